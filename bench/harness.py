"""Shared benchmark helpers: the bench database, gunicorn, a bounded load generator, CPU and memory meters, printing.

The load generator is a thread pool speaking raw HTTP/1.1 over blocking sockets: one connection per request,
because gunicorn's default (sync) workers close the connection after every response, as behind a proxy in
production. Each run also meters CPU per party (client, gunicorn workers, PostgreSQL) so a run where the client,
not the server, is the bottleneck shows it.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BASE_DIR / "bench" / "results"
GUNICORN = BASE_DIR / ".venv" / "bin" / "gunicorn"
CONCURRENCY = 16
WORKERS = 2


def _web_threads() -> int:
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    from jsn import gunicorn_conf

    return gunicorn_conf.threads


# gunicorn's threads per worker, as every command that serves JSN runs it (jsn/gunicorn_conf.py, WEB_THREADS):
# 1 is the sync worker; more selects the gthread worker. BENCH_GUNICORN_THREADS overrides it for a what-if.
THREADS = max(1, int(os.environ.get("BENCH_GUNICORN_THREADS") or _web_threads()))


def server_description() -> str:
    kind = "sync" if THREADS == 1 else f"gthread × {THREADS} threads"
    return f"gunicorn, {WORKERS} workers ({kind})"


DURATION = float(os.environ.get("BENCH_DURATION", "10"))  # measured seconds per target, split over the rounds
# Targets compared with each other run interleaved (bare, api, html, bare, api, html…) so that load from other
# processes on a shared machine falls on all of them alike.
ROUNDS = max(1, int(os.environ.get("BENCH_ROUNDS", "2")))
WARMUP = float(os.environ.get("BENCH_WARMUP", "2"))
# Every loop stops on whichever comes first: its duration or this many operations.
MAX_OPERATIONS = int(os.environ.get("BENCH_MAX_OPERATIONS", "200000"))
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def setup_django(settings_module: str = "bench.settings") -> None:
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    if str(BASE_DIR) not in sys.path:
        sys.path.insert(0, str(BASE_DIR))
    import django

    django.setup()


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- CPU and memory ---------------------------------------------------------------------------------------------


def _proc_cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


# A backend's process title: "postgres: [cluster: ]user database host(port) state".
_PG_BACKEND_TITLE = re.compile(r"^postgres: (?:\S+: )?(\S+) (\S+) ")


def _postgres_backends(dbname: str) -> list[int]:
    """PostgreSQL backends serving dbname on this machine, found by their process titles."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                title = (entry / "cmdline").read_bytes().split(b"\0", 1)[0].decode(errors="replace")
            except OSError:
                continue
            match = _PG_BACKEND_TITLE.match(title)
            if match and match.group(2) == dbname:
                pids.append(int(entry.name))
    return pids


def _system_busy_idle() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return (sum(values) - idle) / CLOCK_TICKS, idle / CLOCK_TICKS


def _self_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_mb(pid: int | None = None) -> float:
    """Peak resident memory of a process (VmHWM), or of this process when pid is None."""
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


@contextmanager
def traced_peak_memory() -> Iterator[dict[str, float]]:
    """Peak Python allocations inside the block, in MB (tracemalloc: slows the block down; measure apart)."""
    out: dict[str, float] = {}
    tracemalloc.start()
    try:
        yield out
    finally:
        out["peak_mb"] = tracemalloc.get_traced_memory()[1] / 1_048_576
        tracemalloc.stop()


def bench_dbname() -> str:
    from django.conf import settings

    return settings.DATABASES["default"]["NAME"]


class CpuMeter:
    """CPU cores used during a run: this process (the client), the server's processes, the bench database's
    PostgreSQL backends, and everything else on the machine ("other": other users of a shared machine)."""

    def __init__(self, server_pids: Callable[[], list[int]] = list) -> None:
        self.server_pids = server_pids
        self.dbname = bench_dbname()

    def snapshot(self) -> dict[str, Any]:
        busy, idle = _system_busy_idle()
        return {
            "t": time.perf_counter(),
            "client": _self_cpu_seconds(),
            "server": {p: _proc_cpu_seconds(p) for p in self.server_pids()},
            "postgres": {p: _proc_cpu_seconds(p) for p in _postgres_backends(self.dbname)},
            "busy": busy,
            "idle": idle,
        }

    @staticmethod
    def cores(before: dict[str, Any], after: dict[str, Any]) -> dict[str, float]:
        wall = after["t"] - before["t"]

        def used(key: str) -> float:
            if isinstance(after[key], dict):  # per process; one that started during the run counts from zero
                return sum(cpu - before[key].get(pid, 0.0) for pid, cpu in after[key].items())
            return after[key] - before[key]

        out = {k: round(max(0.0, used(k)) / wall, 2) for k in ("client", "server", "postgres", "busy")}
        out["other"] = round(max(0.0, out["busy"] - out["client"] - out["server"] - out["postgres"]), 2)
        out["machine_cores"] = os.cpu_count() or 1
        return out


_restore_registered: list[bool] = []


def share_priority_with_autogroup(pid: int | str = "self") -> None:
    """With the kernel's autogroup scheduling every session gets an equal CPU share and `nice` only counts within
    a session; so a raised priority is also written to the process's autogroup (ours and gunicorn's own session)."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    if mine >= 0:
        return
    path = Path(f"/proc/{pid}/autogroup")
    with contextlib.suppress(OSError):  # no autogroups, or not permitted: measure as is
        before = re.search(r"nice (-?\d+)", path.read_text())
        path.write_text(str(mine))
        if pid == "self" and before and not _restore_registered:
            # The session outlives the bench (a shell): give its share back at exit.
            atexit.register(lambda: path.write_text(before.group(1)))
            _restore_registered.append(True)


def share_priority_with_backends() -> None:
    """When the bench runs with raised priority (`nice -n -10 make bench` on a shared machine), give the bench
    database's PostgreSQL backends the same, or the database side would be measured at a disadvantage."""
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    if mine >= 0:
        return
    for pid in _postgres_backends(bench_dbname()):
        try:
            os.setpriority(os.PRIO_PROCESS, pid, mine)
        except OSError:
            return  # not permitted: measure as is


def background_cores(seconds: float = 1.0) -> float:
    """CPU cores busy on the machine while the bench itself is idle: other load skews every figure."""
    busy0, _ = _system_busy_idle()
    time.sleep(seconds)
    busy1, _ = _system_busy_idle()
    return round((busy1 - busy0) / seconds, 2)


# --- Load -------------------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    name: str
    operations: int
    errors: int
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    concurrency: int
    cpu_cores: dict[str, float] = field(default_factory=dict)
    first_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    rounds: int = 1
    latencies: list[float] = field(default_factory=list, repr=False)  # sorted, seconds; not written to JSON

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        del out["latencies"]
        return out


def merge_rounds(parts: Sequence[LoadResult]) -> LoadResult:
    """One result from several interleaved rounds of the same target: total rate, pooled percentiles. Rounds that
    measured nothing (their operation budget was spent in the warm-up) are left out."""
    parts = [p for p in parts if p.operations] or list(parts[:1])
    lat = sorted(x for p in parts for x in p.latencies)
    seconds = sum(p.seconds for p in parts)
    ops = len(lat)
    cpu: dict[str, float] = {}
    if all(p.cpu_cores for p in parts):
        for key in parts[0].cpu_cores:
            cpu[key] = round(sum(p.cpu_cores[key] * p.seconds for p in parts) / seconds, 2) if seconds else 0.0
        cpu["machine_cores"] = parts[0].cpu_cores["machine_cores"]
    return LoadResult(
        name=parts[0].name,
        operations=ops,
        errors=sum(p.errors for p in parts),
        seconds=round(seconds, 2),
        per_second=round(ops / seconds, 1) if seconds else 0.0,
        p50_ms=round(_percentile(lat, 0.50) * 1000, 1),
        p99_ms=round(_percentile(lat, 0.99) * 1000, 1),
        max_ms=round(lat[-1] * 1000, 1) if lat else float("nan"),
        concurrency=parts[0].concurrency,
        cpu_cores=cpu,
        first_error=next((p.first_error for p in parts if p.first_error), ""),
        rounds=len(parts),
        latencies=lat,
    )


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[index]


def run_concurrent(
    name: str,
    operation: Callable[[int, int], str | None],
    *,
    concurrency: int = CONCURRENCY,
    duration: float = DURATION,
    warmup: float = WARMUP,
    max_operations: int = MAX_OPERATIONS,
    meter: CpuMeter | None = None,
) -> LoadResult:
    """Run `operation(worker, n)` from `concurrency` threads: a warm-up, then a measured window.

    The operation returns None on success or an error text. Bounded: each thread stops at the deadline or when
    the shared operation budget is spent, whichever is first.
    """
    meter = meter or CpuMeter()
    share_priority_with_autogroup()
    lock = threading.Lock()
    state = {"issued": 0}
    latencies: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    last_finish = [0.0] * concurrency
    first_error: list[str] = []
    start_gate = threading.Barrier(concurrency + 1)
    t_measure = 0.0
    t_end = 0.0

    def worker(w: int) -> None:
        start_gate.wait()
        n = 0
        while True:
            now = time.perf_counter()
            if now >= t_end:
                return
            with lock:
                if state["issued"] >= max_operations:
                    return
                state["issued"] += 1
            t0 = time.perf_counter()
            try:
                err = operation(w, n)
            except Exception as exc:  # noqa: BLE001 - any failure is a counted error, never a crash of the run
                err = f"{type(exc).__name__}: {exc}"
            t1 = time.perf_counter()
            n += 1
            if t0 >= t_measure:
                last_finish[w] = t1
                latencies[w].append(t1 - t0)
                if err is not None:
                    errors[w] += 1
                    if not first_error:
                        first_error.append(err[:300])

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(concurrency)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    t_measure = t_start + warmup
    t_end = t_measure + duration
    start_gate.wait()
    time.sleep(max(0.0, t_measure - time.perf_counter()))
    share_priority_with_backends()  # the warm-up has opened the connections
    before = meter.snapshot()
    for t in threads:
        t.join(timeout=duration + warmup + 60)
    after = meter.snapshot()
    elapsed = max(0.0, max(last_finish) - t_measure)  # 0 when nothing finished in the window (budget spent)
    all_lat = sorted(x for per in latencies for x in per)
    ops = len(all_lat)
    return LoadResult(
        name=name,
        operations=ops,
        errors=sum(errors),
        seconds=round(elapsed, 2),
        per_second=round(ops / elapsed, 1) if elapsed > 0 else 0.0,
        p50_ms=round(_percentile(all_lat, 0.50) * 1000, 1),
        p99_ms=round(_percentile(all_lat, 0.99) * 1000, 1),
        max_ms=round(all_lat[-1] * 1000, 1) if all_lat else float("nan"),
        concurrency=concurrency,
        cpu_cores=CpuMeter.cores(before, after),
        first_error=first_error[0] if first_error else "",
        latencies=all_lat,
    )


_STATUS = re.compile(rb"^HTTP/1\.[01] (\d{3})")


def http_get_operation(
    port: int, paths: Sequence[str], headers: dict[str, str] | None = None, *, timeout: float = 10.0
) -> Callable[[int, int], str | None]:
    """An operation for run_concurrent: GET one of `paths` (cycled per worker), expect 200, read to the end."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    requests = [
        (f"GET {p} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{extra}\r\n").encode() for p in paths
    ]

    def operation(worker: int, n: int) -> str | None:
        request = requests[(worker * 7919 + n) % len(requests)]
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(262144):
                chunks.append(chunk)
        head = chunks[0][:64] if chunks else b""
        match = _STATUS.match(head)
        if not match:
            return f"no HTTP response: {head!r}"
        if match.group(1) != b"200":
            return f"HTTP {match.group(1).decode()} for {request.split(b' ')[1].decode()}"
        return None

    return operation


def http_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """One GET (to check a target before loading it): status and body."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wrk(port: int, path: str, headers: dict[str, str] | None = None, *, duration: float = DURATION) -> dict | None:
    """Cross-check with wrk (C, far cheaper per request than Python) when installed; None otherwise."""
    exe = shutil.which("wrk")
    if not exe:
        return None
    args = [exe, "-t2", f"-c{CONCURRENCY}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    for k, v in (headers or {}).items():
        args += ["-H", f"{k}: {v}"]
    out = subprocess.run(
        [*args, f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=duration + 30
    ).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errs = re.search(r"Socket errors: (.*)", out)

    def ms(m: re.Match | None) -> float:
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    return {
        "per_second": float(rps.group(1)) if rps else float("nan"),
        "p50_ms": round(ms(p50), 1),
        "p99_ms": round(ms(p99), 1),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errs.group(1).strip() if errs else "",
    }


# --- Gunicorn ---------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    """gunicorn serving jsn.wsgi with the given settings on a free loopback port; a context manager."""

    def __init__(
        self,
        *,
        settings_module: str = "bench.settings",
        workers: int = WORKERS,
        threads: int = THREADS,
        ready_path: str,
    ) -> None:
        self.settings_module = settings_module
        self.workers = workers
        self.threads = threads
        self.ready_path = ready_path
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": self.settings_module}
        self.proc = subprocess.Popen(
            [
                str(GUNICORN),
                "jsn.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
                "--graceful-timeout",
                "5",
                *(["--threads", str(self.threads)] if self.threads > 1 else []),
            ],
            cwd=BASE_DIR,
            env=env,
            start_new_session=True,
        )
        share_priority_with_autogroup(self.proc.pid)
        self._wait_ready()
        return self

    def _wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode} before answering")
            try:
                status, _ = http_get(self.port, self.ready_path)
                if status == 200 and len(self.worker_pids()) == self.workers:
                    return
                last = f"HTTP {status}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"gunicorn did not answer {self.ready_path} within {timeout:.0f}s ({last})")

    def worker_pids(self) -> list[int]:
        if not self.proc:
            return []
        try:
            children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            return []
        return [int(p) for p in children]

    def peak_worker_rss_mb(self) -> float:
        return max((peak_rss_mb(p) for p in self.worker_pids()), default=0.0)

    def __exit__(self, *exc: object) -> None:
        if not self.proc or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # graceful: workers finish their request and exit
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)


# --- Users and credentials ----------------------------------------------------------------------------------------


def bench_user(email: str) -> Any:
    from accounts.models import User

    user, _ = User.objects.get_or_create(
        email=email, defaults={"terms_version": "bench", "role": User.Role.SUBSCRIBER, "is_staff": False}
    )
    return user


def token_header(user: Any) -> dict[str, str]:
    from rest_framework.authtoken.models import Token

    token, _ = Token.objects.get_or_create(user=user)
    return {"Authorization": f"Token {token.key}"}


def session_cookie_header(user: Any) -> dict[str, str]:
    """A logged-in session for user, as django.contrib.auth.login would store it, sent as a cookie."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return {"Cookie": f"{settings.SESSION_COOKIE_NAME}={session.session_key}"}


# --- Printing and results -----------------------------------------------------------------------------------------


def print_header(title: str) -> None:
    print(f"\n== {title}", flush=True)


def print_result(result: LoadResult, *, floor: LoadResult | None = None, unit: str = "req/s") -> None:
    ratio = f"  = {result.per_second / floor.per_second:6.1%} of {floor.name}" if floor and floor.per_second else ""
    cpu = result.cpu_cores
    cpu_text = (
        f"  cpu cores: client {cpu.get('client')}, server {cpu.get('server')}, pg {cpu.get('postgres')},"
        f" other {cpu.get('other')}; machine busy {cpu.get('busy')}/{cpu.get('machine_cores')}"
        if cpu
        else ""
    )
    if cpu and result.per_second:
        ms = {k: cpu[k] / result.per_second * 1000 for k in ("server", "postgres", "client")}
        cpu_text += f"; CPU ms per op: server {ms['server']:.2f}, pg {ms['postgres']:.2f}, client {ms['client']:.2f}"
    rounds = f" in {result.rounds} rounds" if result.rounds > 1 else ""
    errors = f"  ERRORS {result.errors} ({result.first_error})" if result.errors else ""
    print(
        f"  {result.name:<34} {result.per_second:9.1f} {unit}  p50 {result.p50_ms:7.1f} ms  p99 {result.p99_ms:7.1f} ms"
        f"  n={result.operations}{rounds}{ratio}{errors}",
        flush=True,
    )
    if cpu_text:
        print(f"  {'':<34}{cpu_text}", flush=True)


def client_saturated(result: LoadResult) -> bool:
    """True when the load generator itself used most of a core: then its rate, not the server's, was measured."""
    return result.cpu_cores.get("client", 0.0) >= 0.85


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path
