"""The daily job: what gets billed, once, and what never does."""

from datetime import date, timedelta

import pytest
from django.db.models import Sum

from billing.models import BillingRunFailure, Invoice, InvoiceLine
from billing.services import BillingError, billing_run, invoice_create_for_day
from claims.models import Claim
from tests.billing.factories import ClaimFactory, released_claim
from tests.billing.helpers import assert_ledger_consistent, billed_days, days, frozen, local, run_on
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

D = date(2026, 6, 10)


def test_an_active_claim_is_billed_for_each_ended_day_with_its_frozen_price():
    claim = ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500, score_at_claim=88)
    summary = run_on(D + timedelta(days=2))
    assert (summary.invoices, summary.lines, summary.totals) == (2, 2, {"usd": 3000})
    assert billed_days(claim.user) == [D, D + timedelta(days=1)]
    line = InvoiceLine.objects.get(service_date=D)
    assert (line.claim_id, line.case_id, line.unit_amount_cents, line.amount_cents, line.score) == (
        claim.pk,
        claim.case_id,
        1500,
        1500,
        88,
    )
    assert line.case_number == claim.case.case_number  # kept for staff
    assert claim.case.case_number not in line.description and f"case #{claim.case_id}" in line.description
    invoice = line.invoice
    assert (invoice.status, invoice.currency, invoice.total_cents) == ("open", "usd", 1500)
    assert invoice.number == f"JSN-20260610-{claim.user_id:07d}"
    assert_ledger_consistent()


def test_today_is_not_billed_until_it_and_the_grace_period_have_ended():
    claim = ClaimFactory(claimed_at=local(D, 23, 59))
    with frozen(local(D + timedelta(days=1), 0, 14)):
        assert billing_run().invoices == 0
    with frozen(local(D + timedelta(days=1), 0, 15)):
        assert billing_run().invoices == 1
    assert billed_days(claim.user) == [D]


def test_release_within_grace_across_midnight_is_never_billed():
    released_claim(claimed_at=local(D, 23, 55), released_at=local(D + timedelta(days=1), 0, 5))
    assert run_on(D + timedelta(days=3)).invoices == 0
    assert Invoice.objects.count() == 0


def test_release_day_is_billed():
    claim = released_claim(claimed_at=local(D, 10), released_at=local(D + timedelta(days=2), 8))
    run_on(D + timedelta(days=5))
    assert billed_days(claim.user) == days(D, 3)


def test_same_case_reclaimed_same_day_is_one_line():
    user, case = UserFactory(), CaseFactory()
    first = released_claim(
        user=user, case=case, claimed_at=local(D, 9), released_at=local(D, 11), daily_price_cents=700
    )
    ClaimFactory(user=user, case=case, claimed_at=local(D, 14), daily_price_cents=900)
    run_on(D + timedelta(days=2))
    lines = list(InvoiceLine.objects.order_by("service_date").values_list("service_date", "claim_id", "amount_cents"))
    assert lines[0] == (D, first.pk, 700)
    assert lines[1][0] == D + timedelta(days=1) and lines[1][2] == 900
    assert len(lines) == 2
    assert_ledger_consistent()


def test_one_invoice_per_user_day_with_a_line_per_claim_and_total_equal_to_lines():
    user = UserFactory()
    prices = [250, 500, 1000, 1500, 1333]
    for price in prices:
        ClaimFactory(user=user, claimed_at=local(D, 8), daily_price_cents=price)
    run_on(D + timedelta(days=1))
    invoice = Invoice.objects.get(user=user)
    assert invoice.lines.count() == 5
    assert invoice.total_cents == sum(prices) == invoice.lines.aggregate(s=Sum("amount_cents"))["s"]


def test_users_with_billing_off_accrue_nothing_even_after_billing_is_turned_back_on():
    off = UserFactory(billing_active=False)
    on = UserFactory()
    ClaimFactory(user=off, claimed_at=local(D, 9))
    ClaimFactory(user=on, claimed_at=local(D, 9))
    for i in range(1, 4):
        run_on(D + timedelta(days=i))
    assert billed_days(off) == []
    off.billing_active = True
    off.save()
    run_on(D + timedelta(days=5))
    # The days with billing off stay unbilled; from the day it was back on, days are billed again.
    assert billed_days(off) == [D + timedelta(days=3), D + timedelta(days=4)]
    assert billed_days(on) == days(D, 5)


def test_missed_days_are_billed_once_each_and_a_second_run_bills_nothing_b3():
    users = UserFactory.create_batch(3)
    for user in users:
        ClaimFactory(user=user, claimed_at=local(D - timedelta(days=1), 12))
    run_on(D)  # bills D-1
    # Beat down for D+1, D+2, D+3: the next run (00:15 on D+4) catches up.
    summary = run_on(D + timedelta(days=4))
    assert summary.invoices == 3 * 4  # D, D+1, D+2, D+3 for each user
    for user in users:
        assert billed_days(user) == days(D - timedelta(days=1), 5)
    again = run_on(D + timedelta(days=4))
    assert (again.invoices, again.lines) == (0, 0)
    assert Invoice.objects.count() == 15
    assert_ledger_consistent()


def test_running_twice_bills_once_b1():
    for _ in range(4):
        ClaimFactory(claimed_at=local(D, 9))
    first = run_on(D + timedelta(days=1))
    second = run_on(D + timedelta(days=1))
    assert (first.invoices, second.invoices) == (4, 0)
    assert Invoice.objects.count() == 4


def test_dry_run_writes_nothing_but_reports_what_it_would_bill():
    ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1234)
    with frozen(local(D + timedelta(days=2), 1)):
        summary = billing_run(dry_run=True)
    assert (summary.invoices, summary.lines, summary.totals) == (2, 2, {"usd": 2468})
    assert Invoice.objects.count() == 0 and InvoiceLine.objects.count() == 0
    from billing.models import BillingCursor, BillingRun

    assert BillingRun.objects.count() == 0 and BillingCursor.objects.count() == 0


def test_one_users_failure_is_recorded_and_the_others_are_billed():
    good = [UserFactory() for _ in range(3)]
    bad = UserFactory()
    for user in good:
        ClaimFactory(user=user, claimed_at=local(D, 9))
    # Two currencies on one day cannot share one invoice: this user fails, alone.
    ClaimFactory(user=bad, claimed_at=local(D, 9), currency="usd")
    ClaimFactory(user=bad, claimed_at=local(D, 9), currency="eur")
    summary = run_on(D + timedelta(days=1))
    assert summary.invoices == 3
    assert [uid for uid, _ in summary.failures] == [bad.pk]
    failure = BillingRunFailure.objects.get()
    assert failure.user_id == bad.pk and "currency" in failure.error
    assert billed_days(bad) == []
    for user in good:
        assert billed_days(user) == [D]
    # Fixed, the next run bills the failed user's day.
    Claim.objects.filter(user=bad, currency="eur").update(currency="usd")
    assert run_on(D + timedelta(days=1)).invoices == 1
    assert billed_days(bad) == [D]


def test_user_filter_bills_only_that_user():
    a, b = UserFactory(), UserFactory()
    ClaimFactory(user=a, claimed_at=local(D, 9))
    ClaimFactory(user=b, claimed_at=local(D, 9))
    run_on(D + timedelta(days=1), user_id=a.pk)
    assert billed_days(a) == [D] and billed_days(b) == []


def test_invoice_create_for_day_bills_one_user_day_and_returns_it_again():
    claim = ClaimFactory(claimed_at=local(D, 9))
    with frozen(local(D + timedelta(days=3), 9)):
        invoice = invoice_create_for_day(user_id=claim.user_id, day=D + timedelta(days=1))
        assert invoice is not None and invoice.invoice_date == D + timedelta(days=1)
        assert invoice_create_for_day(user_id=claim.user_id, day=D + timedelta(days=1)) == invoice
        with pytest.raises(BillingError):
            invoice_create_for_day(user_id=claim.user_id, day=D + timedelta(days=3))
        # A single later day must not mark the days before it as done.
        billing_run()
    assert billed_days(claim.user) == days(D, 3)


def test_backfill_from_reaches_beyond_the_default_lookback():
    claim = ClaimFactory(claimed_at=local(D - timedelta(days=100), 9))
    run_on(D, since=D - timedelta(days=100))
    assert len(billed_days(claim.user)) == 100


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_a_year_of_daily_runs_bills_each_calendar_day_once_b4(settings, tz):
    """366 daily runs from 1 January 2026 across both DST switches: one billed day per calendar day per claim."""
    settings.BILLING_TIME_ZONE = tz
    start = date(2026, 1, 1)
    held = ClaimFactory(claimed_at=local(start, 0, 30))
    # One claim per switch day, taken at 01:30 local and released 25 hours later (crosses the switch).
    for switch in (date(2026, 3, 29), date(2026, 10, 25)):
        released_claim(
            user=held.user, claimed_at=local(switch, 1, 30), released_at=local(switch, 1, 30) + timedelta(hours=25)
        )
    for day in days(start + timedelta(days=1), 366):
        run_on(day)
    assert billed_days(held.user) == days(start, 366)
    per_claim = dict(InvoiceLine.objects.values_list("claim_id").annotate(n=Sum("quantity")).order_by())
    assert per_claim[held.pk] == 366
    assert sorted(v for k, v in per_claim.items() if k != held.pk) == [2, 2]
    assert_ledger_consistent()


@pytest.mark.parametrize("tz", ["UTC", "Europe/Berlin"])
def test_a_year_in_one_backfill_run_bills_the_same_days_b4(settings, tz):
    settings.BILLING_TIME_ZONE = tz
    start = date(2026, 1, 1)
    held = ClaimFactory(claimed_at=local(start, 0, 0))
    run_on(start + timedelta(days=366), since=start)
    assert billed_days(held.user) == days(start, 366)
    assert run_on(start + timedelta(days=366), since=start).invoices == 0


def test_an_expired_claim_is_billed_up_to_its_expiry_not_up_to_when_the_job_ran(settings):
    """A claim expiring at 23:30, ended by the expiry job a little after midnight, is not billed for the new day."""
    from claims import services as claims

    settings.CLAIM_MAX_DAYS = 2
    user, case = UserFactory(), CaseFactory()
    with frozen(local(D, 23, 30)):
        claims.claim_cases(user=user, case_ids=[case.pk])
    with frozen(local(D + timedelta(days=3), 0, 5)):  # 35 minutes after the expiry
        assert claims.claims_expire(now=local(D + timedelta(days=3), 0, 5)) == 1
    assert Claim.objects.get().released_at == local(D + timedelta(days=2), 23, 30)
    run_on(D + timedelta(days=5))
    assert billed_days(user) == days(D, 3)  # D, D+1, D+2 — not D+3
