"""The case list against 100,000 cases: API and HTML page next to the framework floor and the raw-SQL floor.

Run by `make bench` (bin/bench sets up the database). Targets (issue 2): API ≥ 12% of the bare view's requests/s,
API p99 < 150 ms, with gunicorn (2 sync workers) and 16 concurrent clients.
"""

from __future__ import annotations

import os
import platform
import random
import sys
import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench import harness

harness.setup_django()

import psycopg  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from cases.models import Case  # noqa: E402

SEED_COUNT = 100_000
SEED_SOURCE = "bench-seed"
API_TARGET_RATIO = 0.12
API_TARGET_P99_MS = 150.0
PAGE_SIZE_API = 50
# State weights roughly like a national feed: a few big states, a long tail.
STATES = {
    "FL": 18, "CA": 14, "TX": 12, "NY": 9, "OH": 7, "IL": 6, "GA": 6, "PA": 6,
    "NJ": 5, "AZ": 5, "MI": 4, "NC": 4, "NV": 2, "MD": 2,
}  # fmt: skip
COUNTIES = {s: [f"{s} County {n}" for n in range(1, 13)] for s in STATES}
# The filtered pages clients request: big and middling states, several score floors, the first pages.
QUERY_STATES = ("FL", "CA", "TX", "OH")
QUERY_SCORE_MIN = (40, 60, 75)
QUERY_PAGES = (1, 2, 3, 4, 5)
COLUMNS = (
    "case_number", "state", "county", "filing_date", "stage", "auction_date", "street", "city", "zip_code",
    "parcel_number", "property_type", "estimated_value_cents", "amount_owed_cents", "currency", "score", "status",
    "assigned_to_id", "assigned_at", "source", "last_verified_at", "created_at", "updated_at",
)  # fmt: skip


def seed(owner: User) -> dict[str, Any]:
    """100,000 cases by COPY; reused when the bench database already holds exactly that many seeded cases."""
    seeded = Case.objects.filter(source=SEED_SOURCE).count()
    total = Case.objects.count()
    if seeded == SEED_COUNT and total == SEED_COUNT:
        vacuum()
        return {"seeded": False, "cases": total, "seconds": 0.0}
    t0 = time.perf_counter()
    rng = random.Random(42)
    now = datetime.now(UTC)
    today = date.today()
    stages = [s.value for s in Case.Stage]
    types = [t.value for t in Case.PropertyType]
    states = list(STATES)
    weights = list(STATES.values())
    connection.ensure_connection()
    pg = connection.connection
    with pg.cursor() as cur:
        # A reseed starts clean; claims and events of earlier runs point at the old cases.
        cur.execute("TRUNCATE cases_case RESTART IDENTITY CASCADE")
        with cur.copy(f"COPY cases_case ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for i in range(SEED_COUNT):
                state = rng.choices(states, weights)[0]
                # Scores skew to the middle, as real scoring does; every value 0–100 occurs.
                score = min(100, max(0, round(rng.gauss(55, 20))))
                claimed = rng.random() < 0.10
                filed = today - timedelta(days=rng.randint(10, 900))
                value = rng.randint(80_000, 1_500_000) * 100
                copy.write_row(
                    (
                        f"BN-{i:07d}",
                        state,
                        rng.choice(COUNTIES[state]),
                        filed,
                        rng.choice(stages),
                        today + timedelta(days=rng.randint(-60, 180)) if rng.random() < 0.6 else None,
                        f"{rng.randint(1, 9999)} Bench St",
                        f"City {rng.randint(1, 200)}",
                        f"{rng.randint(10000, 99999)}",
                        f"P-{i:08d}",
                        rng.choice(types),
                        value,
                        int(value * rng.uniform(0.3, 1.1)),
                        "usd",
                        score,
                        "open" if rng.random() < 0.92 else "closed",
                        owner.pk if claimed else None,
                        now if claimed else None,
                        SEED_SOURCE,
                        now,
                        now,
                        now,
                    )
                )
    vacuum()
    return {"seeded": True, "cases": Case.objects.count(), "seconds": round(time.perf_counter() - t0, 1)}


def vacuum() -> None:
    """Steady state, as autovacuum leaves it: fresh statistics and the visibility map set, so COUNT(*) can run as an
    index-only scan. Without it (right after a bulk load, or under heavy claim churn) the count reads the heap and
    costs 3-4x more."""
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) cases_case")


def api_paths() -> list[str]:
    return [
        f"/api/v3/cases?state={s}&score_min={m}&page_size={PAGE_SIZE_API}&page={p}"
        for s in QUERY_STATES
        for m in QUERY_SCORE_MIN
        for p in QUERY_PAGES
    ]


def html_paths() -> list[str]:
    return [
        f"/cases/?state={s}&score_min={m}&page={p}" for s in QUERY_STATES for m in QUERY_SCORE_MIN for p in QUERY_PAGES
    ]


def capture_queries(path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """The SQL one request runs, in-process (Django's test client against the bench database): Django's query log
    entries; a prepared statement's entry also carries its SQL and parameters under "prepared"."""
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    client = Client(SERVER_NAME="127.0.0.1", **meta)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    if response.status_code != 200:
        raise RuntimeError(f"{path} answered {response.status_code} in-process: {response.content[:300]!r}")
    return list(ctx.captured_queries)


def check_api_response(port: int, headers: dict[str, str]) -> None:
    """Before timing: the API answers 200 with a full page, and a non-owner gets masked rows."""
    import json

    status, body = harness.http_get(port, api_paths()[0], headers)
    if status != 200:
        raise SystemExit(f"API check failed: HTTP {status}: {body[:300]!r}")
    data = json.loads(body)
    rows = data["results"]
    if len(rows) != PAGE_SIZE_API:
        raise SystemExit(f"API check failed: {len(rows)} rows, expected {PAGE_SIZE_API}")
    if any(r["case_number"] is not None for r in rows if not r["is_mine"]):
        raise SystemExit("API check failed: a non-owner received a case number")


_NOT_LIBPQ = {"cursor_factory", "context", "prepare_threshold", "server_side_binding"}


def raw_sql_floor(statements_per_path: list[list[dict[str, Any]]]) -> harness.LoadResult:
    """The same case statements the API runs, straight through psycopg, 16 connections: prepared statements as
    prepared statements (as the application runs them), others as text."""
    params = {k: v for k, v in connection.get_connection_params().items() if k not in _NOT_LIBPQ}
    conns = [psycopg.connect(**params, autocommit=True) for _ in range(harness.CONCURRENCY)]

    def operation(worker: int, n: int) -> str | None:
        statements = statements_per_path[(worker * 7919 + n) % len(statements_per_path)]
        with conns[worker].cursor() as cur:
            for query in statements:
                if "prepared" in query:
                    cur.execute(*query["prepared"], prepare=True)
                else:
                    cur.execute(query["sql"])
                cur.fetchall()
        return None

    try:
        return harness.run_concurrent(f"raw SQL ({raw_sql_label(statements_per_path)}, psycopg)", operation)
    finally:
        for c in conns:
            c.close()


def raw_sql_label(statements_per_path: list[list[dict[str, Any]]]) -> str:
    kinds = ["count" if "COUNT(" in q["sql"] else "page" for q in statements_per_path[0]]
    return " + ".join(kinds)


def cpu_ms_per_request(result: harness.LoadResult) -> float:
    cpu = result.cpu_cores
    if not cpu or not result.per_second:
        return 0.0
    return (cpu["server"] + cpu["postgres"] + cpu["client"]) / result.per_second * 1000


def main() -> int:
    harness.print_header(f"bench/cases.py — case list, {SEED_COUNT:,} cases, gunicorn {harness.WORKERS} workers,"
                         f" {harness.CONCURRENCY} clients, {harness.DURATION:.0f} s per target")  # fmt: skip
    idle_load = harness.background_cores()
    if idle_load > 0.2:
        print(f"  WARNING: {idle_load} CPU cores were busy before the bench started (other processes on this"
              f" {os.cpu_count()}-core machine); every figure below is lower than on a quiet machine.")  # fmt: skip
    owner = harness.bench_user("bench-owner@example.com")
    viewer = harness.bench_user("bench-viewer@example.com")
    seed_info = seed(owner)
    print(f"  seed: {seed_info['cases']:,} cases" + (f", seeded in {seed_info['seconds']} s" if seed_info["seeded"]
          else " (reused)"), flush=True)  # fmt: skip
    token = harness.token_header(viewer)
    cookie = harness.session_cookie_header(viewer)

    # Queries per request, in-process, and the case statements the raw floor replays.
    api_sql = [q["sql"] for q in capture_queries(api_paths()[0], token)]
    html_sql = [q["sql"] for q in capture_queries(html_paths()[0], cookie)]
    statements_per_path = []
    for path in api_paths():
        statements_per_path.append([q for q in capture_queries(path, token) if "cases_case" in q["sql"]])
    print(f"  queries per request: API {len(api_sql)}, HTML {len(html_sql)}", flush=True)
    for q in api_sql:
        print(f"    API  {q[:150]}{'…' if len(q) > 150 else ''}")
    for q in html_sql:
        print(f"    HTML {q[:150]}{'…' if len(q) > 150 else ''}")

    results: dict[str, harness.LoadResult] = {}
    cross: dict[str, Any] = {}
    harness.print_header(f"served by {harness.server_description()}")
    with harness.Gunicorn(ready_path="/bench/bare") as server:
        meter = harness.CpuMeter(server.worker_pids)
        check_api_response(server.port, token)
        status, body = harness.http_get(server.port, html_paths()[0], cookie)
        if status != 200:
            raise SystemExit(f"HTML check failed: HTTP {status}: {body[:300]!r}")
        targets = [
            ("bare", "bare Django JSON view (no DB)", ["/bench/bare"], {}),
            ("api", "case list API (50/page)", api_paths(), token),
            ("html", "case list HTML page (25/page)", html_paths(), cookie),
        ]
        parts: dict[str, list[harness.LoadResult]] = {key: [] for key, *_ in targets}
        for _ in range(harness.ROUNDS):
            for key, name, paths, headers in targets:
                op = harness.http_get_operation(server.port, paths, headers)
                parts[key].append(
                    harness.run_concurrent(name, op, meter=meter, duration=harness.DURATION / harness.ROUNDS)
                )
        for key, *_ in targets:
            results[key] = harness.merge_rounds(parts[key])
            harness.print_result(results[key], floor=results.get("bare") if key != "bare" else None)
        if os.environ.get("BENCH_WRK", "1") != "0":
            for key, path, headers in [("bare", "/bench/bare", {}), ("api", api_paths()[0], token)]:
                out = harness.wrk(server.port, path, headers, duration=harness.DURATION / 2)
                if out is None:
                    break
                cross[key] = out
                print(f"  wrk cross-check {key:<18} {out['per_second']:9.1f} req/s  p50 {out['p50_ms']:7.1f} ms"
                      f"  p99 {out['p99_ms']:7.1f} ms  (one URL; non-2xx {out['non_2xx']})", flush=True)  # fmt: skip
        worker_rss = server.peak_worker_rss_mb()

    harness.print_header("raw SQL floor")
    results["raw_sql"] = raw_sql_floor(statements_per_path)
    harness.print_result(results["raw_sql"], unit="pages/s")
    per_page = len(statements_per_path[0])
    print(f"  {'':<34}  = {results['raw_sql'].per_second * per_page:.0f} statements/s"
          f" ({raw_sql_label(statements_per_path)} per request)")  # fmt: skip

    bare, api, html = results["bare"], results["api"], results["html"]
    api_ratio = api.per_second / bare.per_second if bare.per_second else 0.0
    html_ratio = html.per_second / bare.per_second if bare.per_second else 0.0
    ratio_ok = api_ratio >= API_TARGET_RATIO
    p99_ok = api.p99_ms < API_TARGET_P99_MS
    errors_ok = all(r.errors == 0 for r in results.values())
    harness.print_header("summary")
    print(f"  API / bare  {api_ratio:6.1%}   target ≥ {API_TARGET_RATIO:.0%}     {harness.verdict(ratio_ok)}")
    print(f"  API p99     {api.p99_ms:6.1f} ms target < {API_TARGET_P99_MS:.0f} ms  {harness.verdict(p99_ok)}")
    print(f"  HTML / bare {html_ratio:6.1%}   (no target)   HTML p99 {html.p99_ms:.1f} ms")
    print(f"  API / raw SQL floor {api.per_second / results['raw_sql'].per_second:6.1%}   (pages/s)")
    print(f"  errors: {sum(r.errors for r in results.values())}   {harness.verdict(errors_ok)}")
    print(f"  peak RSS: gunicorn worker {worker_rss:.0f} MB, load generator {harness.peak_rss_mb():.0f} MB")
    # On a CPU-bound machine rates go inversely with CPU spent per request (server + database + client); this
    # ratio barely moves with other load on the machine, unlike the measured rates.
    api_cpu, bare_cpu = cpu_ms_per_request(api), cpu_ms_per_request(bare)
    cpu_ratio = bare_cpu / api_cpu if api_cpu else 0.0
    html_cpu = cpu_ms_per_request(html)
    print(f"  CPU per request (server + PostgreSQL + client): bare {bare_cpu:.2f} ms, API {api_cpu:.2f} ms,"
          f" HTML {html_cpu:.2f} ms -> API at {cpu_ratio:.1%} of bare by CPU cost")  # fmt: skip
    client = bare.cpu_cores.get("client", 0.0)
    verdict = "SATURATED: figures are the client's limit" if harness.client_saturated(bare) else "not the bottleneck"
    share = client / bare.cpu_cores.get("machine_cores", 1)
    wrk_text = f"; wrk measured the bare view at {cross['bare']['per_second']:.0f} req/s" if "bare" in cross else ""
    print(f"  load generator on the bare view: {client} core ({verdict});"
          f" it takes {share:.0%} of this machine's CPU from the server{wrk_text}")  # fmt: skip
    other = max(r.cpu_cores.get("other", 0.0) for r in (bare, api, html))
    if other > 0.2:
        print(f"  NOTE: up to {other} cores went to other processes during the runs; rates are lower than on a quiet"
              " machine, ratios less so (the targets ran interleaved).")  # fmt: skip

    path = harness.write_results(
        "cases",
        {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "postgres": connection.cursor().connection.info.parameter_status("server_version"),
            "config": {
                "workers": harness.WORKERS,
                "worker_class": "sync" if harness.THREADS == 1 else "gthread",
                "threads": harness.THREADS,
                "concurrency": harness.CONCURRENCY,
                "duration_s": harness.DURATION,
                "warmup_s": harness.WARMUP,
                "rounds": harness.ROUNDS,
                "cases": seed_info["cases"],
                "api_paths": len(api_paths()),
                "bare_view": "JsonResponse, no database access, anonymous",
            },
            "queries_per_request": {"api": len(api_sql), "html": len(html_sql)},
            "sql": {"api": api_sql, "html": html_sql},
            "results": {k: r.as_dict() for k, r in results.items()},
            "wrk_cross_check": cross,
            "ratios": {
                "api_over_bare": round(api_ratio, 4),
                "html_over_bare": round(html_ratio, 4),
                "api_over_bare_by_cpu_cost": round(cpu_ratio, 4),
                "api_over_raw_sql": round(api.per_second / results["raw_sql"].per_second, 4),
            },
            "targets": {
                "api_ratio_min": API_TARGET_RATIO,
                "api_ratio_pass": ratio_ok,
                "api_p99_max_ms": API_TARGET_P99_MS,
                "api_p99_pass": p99_ok,
            },
            "peak_rss_mb": {"gunicorn_worker": round(worker_rss, 1), "load_generator": round(harness.peak_rss_mb(), 1)},
            "seed": seed_info,
            "background_cores_before": idle_load,
        },
    )
    print(f"  figures written to {path.relative_to(harness.BASE_DIR)}")
    return 0 if ratio_ok and p99_ok and errors_ok else 1


if __name__ == "__main__":
    sys.exit(main())
