"""The daily billing job: 10,000 users holding 200,000 active claims, billed for one day.

Measured next to its database floor in the same run: one hand-written set-based `INSERT … SELECT` that writes the
same invoices and lines. Targets (issue 5): the job within 2.5× the floor, and under 200 MB peak memory (the
`manage.py bill_daily` process's peak resident set, Django start-up included).

Run: `.venv/bin/python bench/billing.py` (or `make bench`); BENCH_DATABASE_URL picks the database
(default postgres://postgres@127.0.0.1:5432/jsn_bench_billing when run directly).
"""

from __future__ import annotations

import io
import os
import random
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
if str(BASE_DIR) not in sys.path:
    sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/jsn_bench_billing")

from bench import harness  # noqa: E402

harness.setup_django()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from billing import ledger  # noqa: E402
from billing.models import Invoice, InvoiceLine  # noqa: E402
from billing.services import billing_run  # noqa: E402
from claims.models import Claim  # noqa: E402

USERS = int(os.environ.get("BENCH_BILLING_USERS", 10_000))
CLAIMS_PER_USER = int(os.environ.get("BENCH_BILLING_CLAIMS_PER_USER", 20))
ROUNDS = int(os.environ.get("BENCH_BILLING_ROUNDS", 3))
TARGET_RATIO = 2.5
TARGET_PEAK_MB = 200.0
EMAIL_PREFIX = "bench-billing-"
SOURCE = "bench-billing"


def _ensure_migrated() -> None:
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('billing_invoiceline')")
        if cur.fetchone()[0] is None:
            print("  migrating the bench database (first run only; dj-stripe's migrations take minutes)", flush=True)
            call_command("migrate", verbosity=0, interactive=False)


def _copy(table: str, columns: list[str], rows: list[tuple]) -> None:
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join("\\N" if v is None else str(v) for v in row) + "\n")
    with connection.cursor() as cur, cur.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())


def _not_null_without_default(table: str) -> set[str]:
    with connection.cursor() as cur:
        cur.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = %s AND is_nullable = 'NO' AND column_default IS NULL AND is_identity = 'NO'",
            [table],
        )
        return {r[0] for r in cur.fetchall()}


def seed(day: date) -> dict:
    """USERS users, each with CLAIMS_PER_USER active claims taken on `day`; reused when already there."""
    expected = USERS * CLAIMS_PER_USER
    users = User.objects.filter(email__startswith=EMAIL_PREFIX)
    claims = Claim.objects.filter(user__email__startswith=EMAIL_PREFIX, status=Claim.Status.ACTIVE)
    claimed_at = datetime.combine(day, datetime.min.time(), tzinfo=harness_tz()) + timedelta(hours=8)
    if users.count() == USERS and claims.count() == expected:
        # Same rows; move them onto the day billed in this run.
        claims.update(claimed_at=claimed_at)
        return {"seeded": False, "users": USERS, "claims": expected, "seconds": 0.0}
    t0 = time.perf_counter()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("TRUNCATE billing_invoiceline, billing_invoice, billing_billingcursor CASCADE")
        Claim.objects.filter(user__email__startswith=EMAIL_PREFIX).delete()
        from cases.models import Case

        Case.objects.filter(source=SOURCE).delete()
        users.delete()
        User.objects.bulk_create(
            [
                User(email=f"{EMAIL_PREFIX}{i}@example.com", password="!", terms_version=settings.TERMS_VERSION)
                for i in range(USERS)
            ],
            batch_size=2000,
        )
        user_ids = list(users.order_by("pk").values_list("pk", flat=True))
        rng = random.Random(5)
        now = timezone.now().isoformat()
        case_cols = {
            "case_number": None,
            "state": "FL",
            "county": "Bench County",
            "stage": "notice_of_default",
            "street": "1 Bench St",
            "city": "Miami",
            "zip_code": "33101",
            "parcel_number": "",
            "property_type": "single_family",
            "currency": "usd",
            "score": None,
            "status": "open",
            "source": SOURCE,
            "created_at": now,
            "updated_at": now,
        }
        missing = _not_null_without_default("cases_case") - set(case_cols) - {"id"}
        if missing:
            raise SystemExit(f"bench/billing.py: cases_case has new required columns {sorted(missing)}; update seed().")
        case_rows = []
        for n in range(expected):
            values = dict(case_cols, case_number=f"BB-{n:07d}", score=rng.randint(0, 100))
            case_rows.append(tuple(values.values()))
        _copy("cases_case", list(case_cols), case_rows)
        case_ids = list(Case.objects.filter(source=SOURCE).order_by("pk").values_list("pk", "score"))
        claim_cols = {
            "case_id": None,
            "user_id": None,
            "status": "active",
            "claimed_at": claimed_at.isoformat(),
            "release_reason": "",
            "score_at_claim": None,
            "daily_price_cents": None,
            "currency": "usd",
        }
        missing = _not_null_without_default("claims_claim") - set(claim_cols) - {"id"}
        if missing:
            raise SystemExit(
                f"bench/billing.py: claims_claim has new required columns {sorted(missing)}; update seed()."
            )
        price = {range(80, 101): 1500, range(60, 80): 1000, range(40, 60): 500, range(0, 40): 250}
        claim_rows = []
        for n, (case_id, score) in enumerate(case_ids):
            cents = next(v for r, v in price.items() if score in r)
            values = dict(
                claim_cols,
                case_id=case_id,
                user_id=user_ids[n // CLAIMS_PER_USER],
                score_at_claim=score,
                daily_price_cents=cents,
            )
            claim_rows.append(tuple(values.values()))
        _copy("claims_claim", list(claim_cols), claim_rows)
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE claims_claim")
        cur.execute("VACUUM ANALYZE cases_case")
        cur.execute("VACUUM ANALYZE accounts_user")
    return {"seeded": True, "users": USERS, "claims": expected, "seconds": round(time.perf_counter() - t0, 1)}


def harness_tz():
    from zoneinfo import ZoneInfo

    return ZoneInfo(settings.BILLING_TIME_ZONE)


def clear_billing() -> None:
    # TRUNCATE is not a row event: the immutability trigger does not fire (and is right not to: this is a bench).
    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE billing_invoiceline, billing_invoice, billing_billingcursor, billing_billingrunfailure, "
            "billing_billingrun CASCADE"
        )
        cur.execute("VACUUM ANALYZE billing_invoice")


FLOOR_SQL = """
WITH billable AS (
    SELECT DISTINCT ON (c.user_id, c.case_id)
           c.id, c.user_id, c.case_id, c.daily_price_cents, c.currency, c.score_at_claim
    FROM claims_claim c
    JOIN accounts_user u ON u.id = c.user_id AND u.billing_active
    WHERE c.claimed_at < %(end)s
      AND (c.released_at IS NULL OR c.released_at > %(start)s)
      AND (c.released_at IS NULL OR c.released_at - c.claimed_at > %(grace)s)
    ORDER BY c.user_id, c.case_id, c.claimed_at, c.id
), inv AS (
    INSERT INTO billing_invoice (user_id, invoice_date, number, currency, subtotal_cents, tax_cents, total_cents,
                                 status, due_date, created_at, stripe_sync_error)
    SELECT b.user_id, %(day)s, 'JSN-' || %(ymd)s || '-' || lpad(b.user_id::text, 7, '0'), min(b.currency),
           sum(b.daily_price_cents), 0, sum(b.daily_price_cents), 'open', %(due)s, now(), ''
    FROM billable b GROUP BY b.user_id
    RETURNING id, user_id
)
INSERT INTO billing_invoiceline (invoice_id, claim_id, case_id, case_number, description, service_date, quantity,
                                 unit_amount_cents, amount_cents, score, created_at)
SELECT inv.id, b.id, b.case_id, cs.case_number,
       'Exclusive access to case ' || cs.case_number || ' on ' || %(iso)s, %(day)s, 1,
       b.daily_price_cents, b.daily_price_cents, b.score_at_claim, now()
FROM billable b JOIN inv ON inv.user_id = b.user_id JOIN cases_case cs ON cs.id = b.case_id
"""


def run_floor(day: date) -> float:
    tz = harness_tz()
    params = {
        "start": ledger.day_start(day, tz),
        "end": ledger.day_start(day + timedelta(days=1), tz),
        "grace": timedelta(minutes=settings.CLAIM_GRACE_MINUTES),
        "day": day,
        "ymd": f"{day:%Y%m%d}",
        "iso": day.isoformat(),
        "due": day + timedelta(days=1),
    }
    t0 = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute(FLOOR_SQL, params)
    return time.perf_counter() - t0


def run_job(day: date) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    summary = billing_run(since=day, up_to=day + timedelta(days=1))
    return time.perf_counter() - t0, summary.invoices, summary.lines


def run_command_for_memory(day: date) -> dict:
    """The job as operators run it, in its own process: its peak resident memory and wall time."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="bench.settings")
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "manage.py", "bill_daily", "--date", day.isoformat(), "--verbosity", "0"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"bill_daily failed: {done.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the maximum over all waited-for children; this is the only (and largest) one.
    return {"peak_mb": round(max(peak, before) / 1024, 1), "seconds": round(seconds, 2), "output": done.stdout}


def main() -> int:
    harness.print_header(f"billing: {USERS:,} users × {CLAIMS_PER_USER} active claims, billed for one day")
    _ensure_migrated()
    tz = harness_tz()
    day = ledger.last_ready_day(timezone.now(), tz=tz, grace=timedelta(minutes=settings.CLAIM_GRACE_MINUTES))
    info = seed(day)
    print(f"  seed: {info}", flush=True)
    expected_lines = USERS * CLAIMS_PER_USER

    floor_times, job_times = [], []
    for i in range(ROUNDS):
        clear_billing()
        floor_times.append(run_floor(day))
        assert InvoiceLine.objects.count() == expected_lines, "the floor must write every line"
        clear_billing()
        seconds, invoices, lines = run_job(day)
        job_times.append(seconds)
        assert (invoices, lines) == (USERS, expected_lines), (invoices, lines)
        print(f"  round {i + 1}: floor {floor_times[-1]:.2f} s, job {seconds:.2f} s", flush=True)
    # The job's ledger adds up, as the floor's does.
    with connection.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM billing_invoice i WHERE i.total_cents <> "
            "(SELECT coalesce(sum(amount_cents), 0) FROM billing_invoiceline l WHERE l.invoice_id = i.id)"
        )
        assert cur.fetchone()[0] == 0
    clear_billing()
    memory = run_command_for_memory(day)
    assert Invoice.objects.count() == USERS

    floor_s, job_s = statistics.median(floor_times), statistics.median(job_times)
    ratio = job_s / floor_s
    ok_ratio, ok_mem = ratio <= TARGET_RATIO, memory["peak_mb"] <= TARGET_PEAK_MB
    print(
        f"  floor (INSERT … SELECT)   {floor_s:7.2f} s  {expected_lines / floor_s:9,.0f} lines/s (median of {ROUNDS})"
    )
    print(f"  billing_run               {job_s:7.2f} s  {expected_lines / job_s:9,.0f} lines/s (median of {ROUNDS})")
    print(f"  ratio job / floor         {ratio:7.2f}×  target ≤ {TARGET_RATIO}×  {harness.verdict(ok_ratio)}")
    print(
        f"  bill_daily process        {memory['seconds']:7.2f} s wall, peak RSS {memory['peak_mb']:.1f} MB"
        f"  target < {TARGET_PEAK_MB:.0f} MB  {harness.verdict(ok_mem)}"
    )
    harness.write_results(
        "billing",
        {
            "users": USERS,
            "claims": expected_lines,
            "day": day,
            "floor_seconds": floor_times,
            "job_seconds": job_times,
            "ratio": round(ratio, 3),
            "command": {k: v for k, v in memory.items() if k != "output"},
            "targets": {"ratio": TARGET_RATIO, "peak_mb": TARGET_PEAK_MB},
            "ok": ok_ratio and ok_mem,
            "when": datetime.now(UTC).isoformat(),
        },
    )
    clear_billing()
    return 0 if ok_ratio and ok_mem else 1


if __name__ == "__main__":
    sys.exit(main())
