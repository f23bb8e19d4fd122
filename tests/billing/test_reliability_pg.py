"""B1 (concurrent runs) and B2 (the job process killed at injected points), on PostgreSQL."""

import os
import subprocess
import sys
import threading
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.db import connection, connections
from django.db.models import Sum

from billing import ledger
from billing.models import BillingRunFailure, Invoice, InvoiceLine
from billing.services import CRASH_POINTS, billing_run
from claims.models import Claim
from tests.billing.factories import ClaimFactory, released_claim
from tests.billing.helpers import assert_ledger_consistent, days, frozen, local
from tests.factories import CaseFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
D = date(2026, 6, 10)


def test_eight_concurrent_runs_for_the_same_day_make_one_invoice_per_user_day_b1():
    users = UserFactory.create_batch(40)
    for user in users:
        for _ in range(3):
            ClaimFactory(user=user, claimed_at=local(D - timedelta(days=2), 9))
    barrier = threading.Barrier(8)
    results, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(billing_run(batch_size=5))
        except Exception as exc:  # noqa: BLE001  (surfaced below: any exception fails the test)
            errors.append(exc)
        finally:
            connections.close_all()

    with frozen(local(D + timedelta(days=1), 0, 15)):  # time_machine patches every thread
        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    assert errors == []
    assert len(results) == 8
    expected_user_days = 40 * 3  # D-2, D-1, D
    assert Invoice.objects.count() == expected_user_days
    assert sum(r.invoices for r in results) == expected_user_days
    assert InvoiceLine.objects.count() == expected_user_days * 3
    assert all(not r.failures for r in results)
    assert_ledger_consistent()
    # And an 9th, later run finds nothing left.
    with frozen(local(D + timedelta(days=1), 0, 20)):
        assert billing_run().invoices == 0


def test_a_run_waiting_on_another_skips_the_users_it_holds_b1():
    """Deterministic interleave: while one transaction holds a user's billing lock, a run skips that user only."""
    held, free = UserFactory(), UserFactory()
    ClaimFactory(user=held, claimed_at=local(D, 9))
    ClaimFactory(user=free, claimed_at=local(D, 9))
    locked, release = threading.Event(), threading.Event()

    def holder() -> None:
        from django.db import transaction

        from billing.services import _lock_users

        with transaction.atomic():
            assert _lock_users([held.pk]) == [held.pk]
            locked.set()
            release.wait(30)
        connections.close_all()

    t = threading.Thread(target=holder)
    t.start()
    assert locked.wait(10)
    with frozen(local(D + timedelta(days=1), 1)):
        summary = billing_run()
    release.set()
    t.join()
    assert (summary.invoices, summary.skipped_locked) == (1, 1)
    assert list(Invoice.objects.values_list("user_id", flat=True)) == [free.pk]
    with frozen(local(D + timedelta(days=1), 2)):
        assert billing_run().invoices == 1
    assert Invoice.objects.count() == 2


# --- B2 -------------------------------------------------------------------------------------------------------

B2_USERS = 50
B2_DAYS = 30


def _subprocess_env(**extra: str) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.pop(CRASH_ENV_NAME, None)
    env.update(
        DATABASE_URL=(
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
            f"/{db['NAME']}"
        ),
        DJANGO_SETTINGS_MODULE="jsn.settings_test",
        BILLING_TIME_ZONE=settings.BILLING_TIME_ZONE,
        JSN_BILLING_BATCH_SIZE="7",
        **extra,
    )
    return env


CRASH_ENV_NAME = "JSN_BILLING_CRASH_AT"


def _bill_daily(first: date, last: date, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            "manage.py",
            "bill_daily",
            "--backfill-from",
            str(first),
            "--date",
            str(last),
            "--verbosity",
            "0",
        ],
        cwd=ROOT,
        env=_subprocess_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_killed_at_each_injected_point_then_rerun_bills_every_user_day_exactly_once_b2():
    """50 users × 30 days = 1,500 user-days; the job process is killed (os._exit, no cleanup) at each of the six
    points in turn, then re-run until a run bills nothing. Size as RELIABILITY.md B2; ~20 s here."""
    tz = ZoneInfo(settings.BILLING_TIME_ZONE)
    today = date.today()
    first = today - timedelta(days=B2_DAYS + 2)
    last = first + timedelta(days=B2_DAYS - 1)
    users = UserFactory.create_batch(B2_USERS)
    for i, user in enumerate(users):
        # Held all month, at one of several prices; plus a short one and a grace one now and then.
        ClaimFactory(user=user, claimed_at=local(first, 8), daily_price_cents=250 + 37 * i)
        if i % 3 == 0:
            released_claim(
                user=user,
                case=CaseFactory(),
                claimed_at=local(first + timedelta(days=i % 20), 23),
                released_at=local(first + timedelta(days=i % 20 + 2), 1),
                daily_price_cents=999,
            )
        if i % 5 == 0:
            start = local(first + timedelta(days=5), 12)
            released_claim(user=user, claimed_at=start, released_at=start + timedelta(minutes=10))

    for point in CRASH_POINTS:
        done = _bill_daily(first, last, JSN_BILLING_CRASH_AT=f"{point}:2" if point != "run_started" else point)
        assert done.returncode == 77, (point, done.returncode, done.stderr[-2000:])
    assert Invoice.objects.count() < B2_USERS * B2_DAYS  # the crashes really left work undone

    for _ in range(5):  # re-run until quiet
        done = _bill_daily(first, last)
        assert done.returncode == 0, done.stderr[-2000:]
        if Invoice.objects.filter(created_at__gte=_last_run_start()).count() == 0:
            break
    else:
        pytest.fail("the job never went quiet")

    assert Invoice.objects.count() == B2_USERS * B2_DAYS
    assert set(Invoice.objects.values_list("user_id", "invoice_date")) == {
        (u.pk, d) for u in users for d in days(first, B2_DAYS)
    }
    assert not BillingRunFailure.objects.exists()
    assert_ledger_consistent()
    # The ledger as the pure rule computes it, to the cent.
    expected = 0
    for user in users:
        spans = [
            ledger.ClaimSpan(c.pk, c.case_id, c.claimed_at, c.released_at, c.daily_price_cents, c.currency, 0)
            for c in Claim.objects.filter(user=user)
        ]
        expected += sum(
            b.span.price_cents
            for b in ledger.billable_days(spans, tz=tz, grace=timedelta(minutes=15), first=first, last=last)
        )
    assert InvoiceLine.objects.aggregate(s=Sum("amount_cents"))["s"] == expected
    assert Invoice.objects.aggregate(s=Sum("total_cents"))["s"] == expected


def _last_run_start():
    from billing.models import BillingRun

    return BillingRun.objects.order_by("-started_at").values_list("started_at", flat=True).first()
