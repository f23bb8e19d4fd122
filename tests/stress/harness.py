"""Fault-test harness: a private PostgreSQL and Redis, the app run for real against them, HTTP load, a report.

Nothing here touches the shared PostgreSQL (5432) or Redis (6379) beyond one read-only `pg_dump` of the migrated
test template. Each run gets its own PostgreSQL cluster (initdb in a temporary directory, trust auth, a free port)
and its own `redis-server` (no persistence), which the tests then restart, stop and kill at will.

The app is what production runs: gunicorn (2 sync workers) and a Celery worker (and Beat for R2), started from
this checkout with `tests.stress.settings` and DATABASE_URL / REDIS_URL / CELERY_BROKER_URL pointing at the
private services. E-mails go to a file (tests.fakes.mailbox) so that every process's sends can be counted.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

BASE_DIR = Path(__file__).resolve().parents[2]
VENV_BIN = BASE_DIR / ".venv" / "bin"
PYTHON = VENV_BIN / "python"


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    return float(value) if value else default


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(message: str) -> None:
    print(f"[stress {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def pg_bin() -> Path:
    configured = os.environ.get("PG_BIN")
    if configured:
        return Path(configured)
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if found:
        return found[-1].parent
    which = shutil.which("initdb")
    if which:
        return Path(which).parent
    raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) not found; set PG_BIN")


# --- Private PostgreSQL ---------------------------------------------------------------------------------------------


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on a free loopback port. initdb refuses root, so it runs as `postgres`."""

    def __init__(self, workdir: Path) -> None:
        self.bin = pg_bin()
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.logfile = workdir / "postgres.log"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run([*self.as_user, *args], check=True, timeout=timeout, capture_output=True)

    def url(self, dbname: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def init(self) -> None:
        self.dir.mkdir(parents=True)
        if self.as_user:
            shutil.chown(self.dir, "postgres", "postgres")
            self.logfile.touch()
            shutil.chown(self.logfile, "postgres", "postgres")
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync", "--no-instructions")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                # A test cluster: durability is not what is tested, restarts are.
                "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 60\n"
                "shared_buffers = 64MB\n"
            )
        self.start()

    def pg_ctl(self, *args: str) -> float:
        """Run pg_ctl; returns the seconds it took (start/restart return once connections are accepted)."""
        started = time.monotonic()
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60", *args)
        return time.monotonic() - started

    def start(self) -> float:
        return self.pg_ctl("start")

    def stop(self) -> float:
        return self.pg_ctl("stop", "-m", "fast")

    def restart(self) -> float:
        return self.pg_ctl("restart", "-m", "fast")

    def destroy(self) -> None:
        try:
            if (self.data / "postmaster.pid").exists():
                self.pg_ctl("stop", "-m", "immediate")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def create_database(self, name: str, *, source_url: str | None) -> str:
        """A migrated database: a copy of the shared test template when given (seconds), else `migrate` (minutes)."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        url = self.url(name)
        if source_url:
            dump = subprocess.Popen(
                [str(self.bin / "pg_dump"), "-Fc", "--no-owner", "-d", source_url], stdout=subprocess.PIPE
            )
            subprocess.run(
                [str(self.bin / "pg_restore"), "--no-owner", "-d", url], stdin=dump.stdout, check=True, timeout=600
            )
            if dump.wait(timeout=60) != 0:
                raise RuntimeError(f"pg_dump of {source_url} failed")
        else:
            log("no template database given (STRESS_TEMPLATE_URL): migrating from scratch, this takes minutes")
            subprocess.run(
                [str(PYTHON), "manage.py", "migrate", "--noinput", "-v0"],
                cwd=BASE_DIR,
                env={**os.environ, "DJANGO_SETTINGS_MODULE": "tests.stress.settings", "DATABASE_URL": url},
                check=True,
                timeout=1800,
            )
        return url


# --- Private Redis --------------------------------------------------------------------------------------------------


class PrivateRedis:
    """redis-server on a free port without persistence: a restart loses every queued message, as a crash would."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.logfile = workdir / "redis.log"
        self.proc: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--logfile", str(self.logfile)],
            start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def kill(self) -> None:
        """SIGKILL: like a crash, nothing is flushed or handed over."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def destroy(self) -> None:
        self.kill()


# --- The app ----------------------------------------------------------------------------------------------------


class App:
    """gunicorn (2 sync workers) + Celery worker (+ Beat), logs in the work directory."""

    def __init__(self, workdir: Path, env: dict[str, str], *, beat: bool) -> None:
        self.workdir = workdir
        self.env = {**os.environ, **env, "DJANGO_SETTINGS_MODULE": "tests.stress.settings", "PYTHONUNBUFFERED": "1"}
        self.env.pop("JSN_TEST_DB_TEMPLATE", None)
        self.beat = beat
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen] = {}
        self.initial_web_workers: list[int] = []

    def _spawn(self, name: str, args: list[str]) -> None:
        out = (self.workdir / f"{name}.log").open("ab")
        self.procs[name] = subprocess.Popen(
            args, cwd=BASE_DIR, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )

    def start(self) -> None:
        self._spawn(
            "web",
            [str(VENV_BIN / "gunicorn"), "jsn.wsgi:application", "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
             "--timeout", "60", "--graceful-timeout", "5", "--access-logfile", "-"],
        )  # fmt: skip
        self._spawn(
            "worker",
            [str(VENV_BIN / "celery"), "-A", "jsn", "worker", "--loglevel=INFO", "--concurrency=1",
             "--without-gossip", "--without-mingle", "-n", f"stress-{self.port}@%h"],
        )  # fmt: skip
        if self.beat:
            self._spawn("beat", [str(VENV_BIN / "celery"), "-A", "jsn", "beat", "--loglevel=INFO", "--pidfile="])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.workdir / name}.log")
            try:
                status, _, _ = http_request(self.port, "GET", "/health/", timeout=2)
                if status == 200 and len(self.web_workers()) == 2 and "ready" in self.log("worker"):
                    self.initial_web_workers = self.web_workers()
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"the app did not come up; logs in {self.workdir}")

    def web_workers(self) -> list[int]:
        pid = self.procs["web"].pid
        try:
            return sorted(int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        except OSError:
            return []

    def alive(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self.procs.items()}

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)


@contextmanager
def stress_environment(*, beat: bool, extra_env: dict[str, str], users: int, cases: int, claim_limit: int):
    """Private PostgreSQL + Redis, a migrated and seeded database, the app running; torn down afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="jsn-stress-"))
    os.chmod(workdir, 0o755)
    pg, redis = PrivatePostgres(workdir), PrivateRedis(workdir)
    app: App | None = None
    try:
        started = time.monotonic()
        pg.init()
        redis.start()
        db_url = pg.create_database("jsn_stress", source_url=os.environ.get("STRESS_TEMPLATE_URL") or None)
        mailbox = workdir / "mailbox.jsonl"
        env = {
            "DATABASE_URL": db_url,
            "REDIS_URL": redis.url(0),
            "CELERY_BROKER_URL": redis.url(1),
            "JSN_FAKE_MAILBOX": str(mailbox),
            "CLAIM_RATE_LIMIT_PER_HOUR": "1000000",
            "LOG_LEVEL": "INFO",
            **extra_env,
        }
        seeded = subprocess.run(
            [str(PYTHON), "-m", "tests.stress.seed", str(users), str(cases), str(claim_limit)],
            cwd=BASE_DIR,
            env={**os.environ, **env, "DJANGO_SETTINGS_MODULE": "tests.stress.settings"},
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        )
        data = json.loads(seeded.stdout.strip().splitlines()[-1])
        app = App(workdir, env, beat=beat)
        app.start()
        log(f"ready in {time.monotonic() - started:.1f}s: PostgreSQL :{pg.port}, Redis :{redis.port}, "
            f"app :{app.port}, logs in {workdir}")  # fmt: skip
        yield StressEnv(workdir=workdir, pg=pg, redis=redis, app=app, db_url=db_url, mailbox=mailbox, data=data)
    finally:
        if app is not None:
            app.stop()
        redis.destroy()
        pg.destroy()
        if os.environ.get("STRESS_KEEP_LOGS") != "1":
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            log(f"logs kept in {workdir}")


@dataclass
class StressEnv:
    workdir: Path
    pg: PrivatePostgres
    redis: PrivateRedis
    app: App
    db_url: str
    mailbox: Path
    data: dict[str, Any]

    def sql(self, query: str, params: tuple = ()) -> list[tuple]:
        with psycopg.connect(self.db_url, connect_timeout=10) as conn:
            return conn.execute(query, params).fetchall()


# --- HTTP load ------------------------------------------------------------------------------------------------------


def http_request(
    port: int, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None,
    timeout: float = 40,
) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
        hdrs = {"Host": "127.0.0.1", **(headers or {})}
        if payload is not None:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=hdrs)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


@dataclass
class Answer:
    """One request as the client saw it (times are time.monotonic())."""

    client: str
    kind: str  # claim, release, staff_release, page
    path: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer at all (connection refused/reset, timeout)
    content_type: str = ""
    code: str = ""
    retry_after: str = ""
    body: bytes = b""
    error: str = ""

    @property
    def clean_503(self) -> bool:
        if self.status != 503:
            return False
        if self.kind == "page":
            return (
                self.content_type.startswith("text/html")
                and b"Back in a moment" in self.body
                and bool(self.retry_after)
            )
        try:
            data = json.loads(self.body)
        except ValueError:
            return False
        return (
            self.content_type.startswith("application/json")
            and data.get("code") == "database_unavailable"
            and bool(data.get("detail"))
            and bool(self.retry_after)
        )


@dataclass
class Load:
    """Client threads hammering the real HTTP API until stopped; every answer is recorded."""

    port: int
    answers: list[Answer] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def call(self, client: str, kind: str, method: str, path: str, headers: dict[str, str], body: Any = None) -> Answer:
        started = time.monotonic()
        try:
            status, hdrs, raw = http_request(self.port, method, path, headers=headers, body=body)
            code = ""
            if hdrs.get("content-type", "").startswith("application/json"):
                try:
                    parsed = json.loads(raw)
                    code = parsed.get("code", "") if isinstance(parsed, dict) else ""
                except ValueError:
                    code = "<invalid json>"
            answer = Answer(client, kind, path, started, time.monotonic(), status, hdrs.get("content-type", ""), code,
                            hdrs.get("retry-after", ""), raw)  # fmt: skip
        except OSError as exc:
            answer = Answer(client, kind, path, started, time.monotonic(), 0, error=f"{type(exc).__name__}: {exc}")
        with self._lock:
            self.answers.append(answer)
        return answer

    def spawn(self, name: str, loop: Callable[[Load, str], None]) -> None:
        def run() -> None:
            while not self._stop.is_set():
                loop(self, name)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self._threads), "a client thread is stuck"

    def snapshot(self) -> list[Answer]:
        with self._lock:
            return list(self.answers)


def subscriber_loop(user: dict[str, Any], cases: list[int], claim_limit: int, rng: random.Random) -> Callable:
    """Claim random cases up to the limit and release some; what the client believes it owns may be wrong after an
    outage (an answer lost in flight), which the server then answers with 403/409: both are fine."""
    owned: set[int] = set()
    headers = {"Authorization": f"Token {user['token']}"}

    def loop(load: Load, name: str) -> None:
        if owned and (len(owned) >= claim_limit or rng.random() < 0.35):
            case_id = rng.choice(sorted(owned))
            answer = load.call(name, "release", "POST", f"/api/v3/cases/{case_id}/release", headers, {})
            if answer.status in (200, 403, 409):
                owned.discard(case_id)
        else:
            case_id = rng.choice(cases)
            answer = load.call(name, "claim", "POST", f"/api/v3/cases/{case_id}/claim", headers)
            if answer.status == 201:
                owned.add(case_id)
            elif answer.code == "limit_reached":
                owned.clear()  # resynchronise: release is chosen again once the client believes it holds some
        if answer.status in (0, 503):
            time.sleep(0.05)  # as a polite client would (Retry-After asks for more; we want to see the window)

    return loop


def page_loop(cookie: str) -> Callable:
    def loop(load: Load, name: str) -> None:
        load.call(name, "page", "GET", "/dashboard/", {"Cookie": cookie})
        time.sleep(0.2)

    return loop


# --- Reporting ------------------------------------------------------------------------------------------------------


def statuses(answers: list[Answer]) -> dict[str, int]:
    return dict(sorted(Counter(str(a.status) for a in answers).items()))


def latency(answers: list[Answer]) -> dict[str, float]:
    times = sorted(a.ended - a.started for a in answers)
    if not times:
        return {}
    return {
        "p50_ms": round(statistics.median(times) * 1000, 1),
        "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))] * 1000, 1),
        "max_ms": round(times[-1] * 1000, 1),
    }


def print_report(title: str, report: dict[str, Any]) -> None:
    print(f"\n== {title}\n{json.dumps(report, indent=2, default=str)}", flush=True)
    out = BASE_DIR / "var" / "stress"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{title.split()[0].lower()}.json").write_text(json.dumps(report, indent=2, default=str))


def wait_until(predicate: Callable[[], bool], *, timeout: float, every: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return predicate()


def iter_windows(answers: list[Answer], start: float, end: float) -> Iterator[Answer]:
    return (a for a in answers if start <= a.started <= end)
