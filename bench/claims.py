"""Claiming one case: the API under load next to the framework floor and the raw-SQL floor.

Run by `make bench` after bench/cases.py (it copies the bench database, so claims made here never touch the cases
bench). Measures, all with 16 concurrent clients on random unclaimed cases:
  (a) raw SQL floor — a conditional `UPDATE cases_case … WHERE assigned_to_id IS NULL` per claim (psycopg);
  (b) a bare Django JSON view served by gunicorn (2 workers) — the framework floor;
  (c) `POST /api/v3/cases/{id}/claim` served the same way;
  (d) the claim service in-process (threads calling `claim_cases`).
Targets (issue 3): c ≥ 25% of b, c's p99 < 100 ms, at most 6 SQL statements per single claim.
"""

from __future__ import annotations

import os
import random
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit, urlunsplit

import psycopg

SOURCE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jsn_bench")
CLAIMS_URL = urlunsplit(urlsplit(SOURCE_URL)._replace(path=urlsplit(SOURCE_URL).path + "_claims"))
MIN_CASES = 200_000  # the raw floor alone claims ~4,000 cases/s
USERS = 400  # limit 250 each: room for 100,000 claims, more than the API and service cases together
TARGET_RATIO = 0.25
TARGET_P99_MS = 100.0
TARGET_QUERIES = 6


def _admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def fresh_database() -> None:
    """A throw-away copy of the bench database with every claim removed and enough open cases."""
    source = urlsplit(SOURCE_URL).path.lstrip("/")
    target = urlsplit(CLAIMS_URL).path.lstrip("/")
    with psycopg.connect(_admin_url(SOURCE_URL), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
    with psycopg.connect(CLAIMS_URL, autocommit=True) as conn:
        # TRUNCATE is not stopped by the audit tables' row triggers; this database is a disposable copy.
        conn.execute("TRUNCATE claims_claimevent, claims_claim CASCADE")
        conn.execute("UPDATE cases_case SET assigned_to_id = NULL, assigned_at = NULL, status = 'open'")
        have = conn.execute("SELECT count(*) FROM cases_case").fetchone()[0]
        if have < MIN_CASES:
            conn.execute(
                """
                INSERT INTO cases_case (case_number, state, county, stage, street, city, zip_code, parcel_number,
                    property_type, currency, score, status, source, created_at, updated_at)
                SELECT 'BC-' || g, 'FL', 'Bench', 'notice_of_default', g || ' Bench St', 'Miami', '33101', 'P-' || g,
                    'single_family', 'usd', g %% 101, 'open', 'bench-claims', now(), now()
                FROM generate_series(1, %s) AS g
                """,
                [MIN_CASES - have],
            )
        conn.execute("VACUUM ANALYZE cases_case")


fresh_database()
os.environ["BENCH_DATABASE_URL"] = CLAIMS_URL
# The per-user claim rate limit (claims/limits.py) still runs on every claim here, at the same cost; only its
# ceiling is raised, because the bench users make thousands of claims an hour (and runs within the same hour share
# the counters), far beyond what the default of 120 per user and hour allows. gunicorn inherits it.
os.environ.setdefault("CLAIM_RATE_LIMIT_PER_HOUR", "1000000")

from bench import harness  # noqa: E402

harness.setup_django()

from django.db import connection, connections  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import terms_accept  # noqa: E402
from cases.models import Case  # noqa: E402
from claims import services  # noqa: E402
from claims.services import Outcome, claim_cases  # noqa: E402


def users() -> list[User]:
    result = []
    for n in range(USERS):
        user = harness.bench_user(f"claimer{n}@bench.local")
        User.objects.filter(pk=user.pk).update(claim_limit=250)
        result.append(terms_accept(user=user))
    return result


def case_slices(shares: Sequence[float]) -> list[list[int]]:
    """Disjoint shuffled id lists, one per measured target, so no target finds a case another one claimed."""
    claimable = Case.objects.filter(Case.claimable_now_q())
    ids = list(claimable.values_list("id", flat=True))
    random.Random(7).shuffle(ids)
    bounds = [0]
    for share in shares:
        bounds.append(bounds[-1] + int(len(ids) * share))
    return [ids[bounds[i] : bounds[i + 1]] for i in range(len(shares))]


def user_of(worker: int, n: int, count: int, concurrency: int = harness.CONCURRENCY) -> int:
    """Which of `count` users makes worker w's n-th claim: each worker cycles through its own users (w, w + 16, …),
    so no two workers claim as the same user (their claims would queue on that user's row lock), and no user nears
    the claim limit of 250 during a run."""
    per_worker = max(1, count // concurrency)
    return (worker + concurrency * (n % per_worker)) % count


class Picker:
    """Hands out `ids` in order, each one once, to any worker: two workers never race on one case, and a later round
    (interleaved rounds reuse the operation) continues where the previous one stopped. `remaining()` bounds a run's
    operation budget, so a fast machine runs out of time before it runs out of cases (a case picked twice would
    count as an `already_claimed` error)."""

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = ids
        self._lock = threading.Lock()
        self._taken = 0

    def __call__(self) -> int:
        with self._lock:
            k = self._taken
            self._taken += 1
        return self.ids[k]

    def remaining(self) -> int:
        return len(self.ids) - self._taken


def budget(cases: Picker) -> int:
    return min(harness.MAX_OPERATIONS, cases.remaining())


def out_of_cases(result: harness.LoadResult, cases: Picker) -> None:
    if cases.remaining() == 0:
        print(f"  note: {result.name} used up its {len(cases.ids):,} cases after {result.seconds} s measured;"
              " its rate is from that window")  # fmt: skip


def raw_sql_operation(pick: Picker, user_ids: Sequence[int]) -> Callable[[int, int], str | None]:
    local = threading.local()

    def operation(worker: int, n: int) -> str | None:
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(CLAIMS_URL, autocommit=True)
        cursor = local.conn.execute(
            "UPDATE cases_case SET assigned_to_id = %s, assigned_at = now() WHERE id = %s AND assigned_to_id IS NULL",
            [user_ids[worker % len(user_ids)], pick()],
        )
        return None if cursor.rowcount == 1 else "already claimed"

    return operation


def http_post_operation(
    port: int, pick: Picker, headers_for: Callable[[int, int], dict[str, str]]
) -> Callable[[int, int], str | None]:
    def operation(worker: int, n: int) -> str | None:
        case_id = pick()
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers_for(worker, n).items())
        request = (
            f"POST /api/v3/cases/{case_id}/claim HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
            f"Content-Length: 0\r\n{extra}\r\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        head = chunks[0][:16] if chunks else b""
        return None if head.startswith(b"HTTP/1.1 201") else f"status {head!r} for case {case_id}"

    return operation


def service_operation(pick: Picker, claimers: Sequence[User]) -> Callable[[int, int], str | None]:

    def operation(worker: int, n: int) -> str | None:
        result = claim_cases(user=claimers[user_of(worker, n, len(claimers))], case_ids=[pick()])
        outcome = result.outcomes[0].outcome
        return None if outcome == Outcome.CLAIMED else f"outcome {outcome}"

    return operation


def queries_per_claim(user: User, case_id: int) -> tuple[int, list[str]]:
    """Round trips to PostgreSQL one claim makes (Django's captured queries), not counting BEGIN and COMMIT."""
    with CaptureQueriesContext(connection) as ctx:
        claim_cases(user=user, case_ids=[case_id])
    statements = [q["sql"][:150] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]
    return len(statements), statements


def orm_path_statements(user: User, case_id: int) -> list[str]:
    """The same claim on the ORM path (what SQLite and bulk claims run): the six statements the function does."""
    real = services._single_claim_in_sql
    services._single_claim_in_sql = lambda case_ids: False
    try:
        with CaptureQueriesContext(connection) as ctx:
            claim_cases(user=user, case_ids=[case_id])
    finally:
        services._single_claim_in_sql = real
    return [q["sql"][:110] for q in ctx.captured_queries if q["sql"] not in ("BEGIN", "COMMIT")]


def main() -> int:
    claimers = users()
    # Each target has its own cases (the raw floor is ~20x faster than the API, the service ~5x); a run also stops
    # when its cases are used up (printed), so no case is picked twice.
    raw_ids, api_ids, service_ids, probe_ids = case_slices([0.6, 0.1, 0.28, 0.02])
    raw_cases, api_cases, service_cases = Picker(raw_ids), Picker(api_ids), Picker(service_ids)
    user_ids = [u.pk for u in claimers]
    headers = [harness.token_header(u) for u in claimers]
    n_queries, statements = queries_per_claim(claimers[0], probe_ids[0])
    orm_statements = orm_path_statements(claimers[0], probe_ids[1])
    n_sent = sum(sql.count("; ") + 1 for sql in statements)
    connections.close_all()

    harness.print_header(f"claims: {Case.objects.count():,} cases, {USERS} users, {harness.CONCURRENCY} clients")
    print(f"  one claim (PostgreSQL fast path): {n_queries} round trip(s) carrying {n_sent} statement(s), BEGIN/COMMIT"
          " implicit; inside claims_claim_case(): the ORM path's six statements")  # fmt: skip
    for sql in statements:
        print(f"    {sql}")
    print(f"  the ORM path (SQLite, bulk claims): {len(orm_statements)} statements + BEGIN/COMMIT = "
          f"{len(orm_statements) + 2} round trips")  # fmt: skip
    for sql in orm_statements:
        print(f"    {sql}")
    print("  per API request add: the token lookup (a prepared statement) and the rate limit's Redis round trip")

    harness.print_header("raw SQL floor (conditional UPDATE, psycopg)")
    raw = harness.run_concurrent(
        "raw SQL claim (UPDATE … WHERE assigned_to_id IS NULL)",
        raw_sql_operation(raw_cases, user_ids),
        max_operations=budget(raw_cases),
    )
    out_of_cases(raw, raw_cases)
    harness.print_result(raw, unit="claims/s")

    harness.print_header(f"served by {harness.server_description()}")
    with harness.Gunicorn(ready_path="/bench/bare") as server:
        meter = harness.CpuMeter(server.worker_pids)
        # Interleaved rounds (bare, API, bare, API…): load from other processes on a shared machine falls on both.
        targets = [
            ("bare", "bare Django JSON view (no DB)", harness.http_get_operation(server.port, ["/bench/bare"])),
            (
                "api",
                "POST /api/v3/cases/{id}/claim",
                http_post_operation(server.port, api_cases, lambda w, n: headers[user_of(w, n, len(headers))]),
            ),
        ]
        parts: dict[str, list[harness.LoadResult]] = {key: [] for key, *_ in targets}
        for _ in range(harness.ROUNDS):
            for key, name, op in targets:
                cases = api_cases if key == "api" else None
                limit = budget(cases) if cases else harness.MAX_OPERATIONS
                if limit == 0:
                    continue  # this target's cases are used up (noted after the round that used them)
                run = harness.run_concurrent(
                    name, op, meter=meter, duration=harness.DURATION / harness.ROUNDS, max_operations=limit
                )
                if cases:
                    out_of_cases(run, cases)
                parts[key].append(run)
        bare, api = harness.merge_rounds(parts["bare"]), harness.merge_rounds(parts["api"])
        harness.print_result(bare)
        harness.print_result(api, floor=bare, unit="claims/s")
        rss = server.peak_worker_rss_mb()

    harness.print_header("claim service in-process (threads)")
    service = harness.run_concurrent(
        "claim_cases() in-process", service_operation(service_cases, claimers), max_operations=budget(service_cases)
    )
    out_of_cases(service, service_cases)
    harness.print_result(service, floor=raw, unit="claims/s")

    ratio_bare = api.per_second / bare.per_second if bare.per_second else 0.0
    ratio_raw = api.per_second / raw.per_second if raw.per_second else 0.0
    checks = {
        "api_vs_bare": ratio_bare >= TARGET_RATIO,
        "api_p99": api.p99_ms < TARGET_P99_MS,
        "queries": n_sent <= TARGET_QUERIES and len(orm_statements) <= TARGET_QUERIES,
        "errors": api.errors == 0 and service.errors == 0,
    }
    harness.print_header("summary")
    print(f"  API / bare     {ratio_bare:6.1%}   target ≥ {TARGET_RATIO:.0%}  {harness.verdict(checks['api_vs_bare'])}")
    print(f"  API p99       {api.p99_ms:6.1f} ms target < {TARGET_P99_MS:.0f} ms  {harness.verdict(checks['api_p99'])}")
    print(f"  API / raw SQL  {ratio_raw:6.1%}")
    print(f"  service / raw SQL {service.per_second / raw.per_second if raw.per_second else 0:6.1%}")
    print(f"  SQL per claim  {n_sent} statements in {n_queries} round trip   target ≤ {TARGET_QUERIES}"
          f"  {harness.verdict(checks['queries'])}")  # fmt: skip
    print(
        f"  errors: API {api.errors}, service {service.errors}, raw {raw.errors}   {harness.verdict(checks['errors'])}"
    )
    print(f"  peak RSS: gunicorn worker {rss:.0f} MB")
    harness.write_results(
        "claims",
        {
            "raw": raw.as_dict(),
            "bare": bare.as_dict(),
            "api": api.as_dict(),
            "service": service.as_dict(),
            "queries_per_claim": {"round_trips": n_queries, "statements_sent": n_sent, "orm_path": len(orm_statements)},
            "ratios": {"api_vs_bare": ratio_bare, "api_vs_raw": ratio_raw},
            "checks": checks,
        },
    )
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
