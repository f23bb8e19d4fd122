"""Each dashboard figure against a data set whose numbers are worked out by hand (in the comments)."""

import random
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from backoffice import metrics
from billing.models import Invoice
from cases.models import Case
from claims.models import Claim
from leads.models import Delivery, ImportSource, Lead, PlzSubscription
from tests.backoffice.builders import claim, delivery, failed_once, invoice, lead, line, webhook
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def at(day: int, hh: int = 0, mm: int = 0, tz: ZoneInfo = UTC, month: int = 3) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=tz)


# --- billing_summary --------------------------------------------------------------------------------------------


def test_billing_summary_per_currency_and_status():
    a, b = UserFactory(), UserFactory()
    invoice(a, date(2026, 3, 2), 1500, Invoice.Status.PAID)
    invoice(a, date(2026, 3, 3), 1000, Invoice.Status.OPEN)
    failed_once(invoice(a, date(2026, 3, 4), 700, Invoice.Status.FAILED))
    invoice(a, date(2026, 3, 5), 300, Invoice.Status.VOID)
    failed_once(invoice(a, date(2026, 3, 6), 2000, Invoice.Status.PAID))  # failed first, paid since
    invoice(a, date(2026, 3, 7), 400, Invoice.Status.UNCOLLECTIBLE)
    invoice(a, date(2026, 3, 31), 50, Invoice.Status.DRAFT)  # last day of the period: included
    invoice(b, date(2026, 3, 2), 900, Invoice.Status.OPEN, currency="eur")
    invoice(b, date(2026, 3, 3), 1100, Invoice.Status.PAID, currency="eur")
    # Outside the period: only the failed one counts, and only in invoices_failing.
    failed_once(invoice(b, date(2026, 2, 28), 5000, Invoice.Status.FAILED))
    invoice(b, date(2026, 4, 1), 800, Invoice.Status.PAID)

    summary = metrics.billing_summary(first_day=date(2026, 3, 1), last_day=date(2026, 3, 31))

    assert [row.currency for row in summary.currencies] == ["eur", "usd"]
    usd = summary.currency("usd")
    assert usd.billed == metrics.Bucket(1500 + 1000 + 700 + 2000 + 400 + 50, 6)  # void excluded
    assert usd.collected == metrics.Bucket(3500, 2)
    assert usd.pending == metrics.Bucket(1050, 2)  # open + draft
    assert usd.failed == metrics.Bucket(700, 1)
    assert usd.uncollectible == metrics.Bucket(400, 1)
    assert usd.void == metrics.Bucket(300, 1)
    eur = summary.currency("eur")
    assert eur.billed == metrics.Bucket(2000, 2)
    assert eur.collected == metrics.Bucket(1100, 1)
    assert eur.pending == metrics.Bucket(900, 1)
    assert eur.failed == metrics.Bucket(0, 0)
    assert summary.payment_failures == 2  # 3-04 (still failed) and 3-06 (paid after a failure)
    assert summary.invoices_failing == 2  # 3-04 and 2-28: every invoice failed now, whatever its date


def test_billing_summary_of_an_empty_period_is_empty_but_still_counts_failing_invoices():
    failed_once(invoice(UserFactory(), date(2026, 1, 5), 700, Invoice.Status.FAILED))
    summary = metrics.billing_summary(first_day=date(2026, 3, 1), last_day=date(2026, 3, 31))
    assert summary.currencies == ()
    assert summary.payment_failures == 0
    assert summary.invoices_failing == 1


def test_month_bounds():
    assert metrics.month_bounds(month=date(2026, 2, 14)) == (date(2026, 2, 1), date(2026, 2, 28))
    assert metrics.month_bounds(month=date(2024, 2, 1)) == (date(2024, 2, 1), date(2024, 2, 29))
    assert metrics.month_bounds(month=date(2026, 12, 31)) == (date(2026, 12, 1), date(2026, 12, 31))


# --- claim_stats -------------------------------------------------------------------------------------------------


def test_claim_stats_counts_and_daily_revenue():
    payer, free = UserFactory(), UserFactory(billing_active=False)
    claim(payer, claimed_at=at(1), cents=1000)
    claim(payer, claimed_at=at(10, 8), cents=1500, expires_at=NOW + timedelta(hours=2))  # today; expires in 2 h
    claim(payer, claimed_at=at(2), cents=700, currency="eur", expires_at=NOW + timedelta(hours=30))
    claim(free, claimed_at=at(3), cents=500)  # billing off: no revenue
    claim(payer, claimed_at=at(1), released_at=at(4))
    claim(payer, claimed_at=at(1), released_at=at(10, 9))  # ended today
    claim(payer, claimed_at=at(1), released_at=at(9, 23), status=Claim.Status.EXPIRED)
    claim(payer, claimed_at=at(1), released_at=at(5), status=Claim.Status.REASSIGNED)

    stats = metrics.claim_stats(now=NOW)

    assert (stats.total, stats.active, stats.released, stats.expired, stats.reassigned) == (8, 4, 2, 1, 1)
    assert stats.claimed_today == 1
    assert stats.ended_today == 1
    assert stats.expiring_within_24h == 1
    assert stats.active_not_billed == 1
    assert stats.daily_revenue == (metrics.Money("eur", 700), metrics.Money("usd", 2500))


def test_claim_stats_today_follows_the_billing_time_zone(settings):
    settings.BILLING_TIME_ZONE = "Europe/Berlin"
    # 23:30 UTC on 3-09 is 00:30 on 3-10 in Berlin: today there.
    claim(claimed_at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    claim(claimed_at=datetime(2026, 3, 9, 22, 30, tzinfo=UTC))  # 23:30 Berlin on 3-09: yesterday
    assert metrics.claim_stats(now=NOW).claimed_today == 1


# --- case_stats --------------------------------------------------------------------------------------------------


def test_case_stats_available_vs_claimed_by_state():
    holder = UserFactory()
    CaseFactory(state="FL")  # available
    CaseFactory(state="FL")  # available
    CaseFactory(state="FL", assigned_to=holder, assigned_at=NOW)  # claimed
    CaseFactory(state="FL", status=Case.Status.CLOSED)  # unavailable
    CaseFactory(state="TX")  # available
    CaseFactory(state="TX", stage=Case.Stage.SOLD)  # open but sold: unavailable
    CaseFactory(state="TX", stage=Case.Stage.WITHDRAWN, assigned_to=holder, assigned_at=NOW)  # still held: claimed
    CaseFactory(state="OH", assigned_to=holder, assigned_at=NOW)

    stats = metrics.case_stats()

    assert (stats.total, stats.available, stats.claimed, stats.unavailable) == (8, 3, 3, 2)
    assert stats.by_state == (
        metrics.StateCases("FL", 4, 2, 1),
        metrics.StateCases("TX", 3, 1, 1),
        metrics.StateCases("OH", 1, 0, 1),
    )


# --- leads -------------------------------------------------------------------------------------------------------


def test_lead_stats_today_and_queues():
    with time_machine.travel(NOW, tick=False):
        today = [lead("10115", at(10, 1)), lead("10115", at(10, 9)), lead(None, at(10, 10), Lead.Status.REVIEW)]
        lead(None, at(10, 11), Lead.Status.QUARANTINED)
        old = lead("20095", at(9, 23, 59))
        lead(None, at(8), Lead.Status.REVIEW)  # still waiting for review: counts in the queue, not in today
        delivery(today[0], Delivery.Status.SENT, sent_at=at(10, 2))
        delivery(today[0], Delivery.Status.DELIVERED, sent_at=at(10, 3))
        delivery(old, Delivery.Status.SENT, sent_at=at(9, 23, 59))  # sent yesterday
        delivery(today[1], Delivery.Status.FAILED)
        delivery(today[1], Delivery.Status.BOUNCED)
        delivery(today[1], Delivery.Status.PLANNED, due_at=NOW + timedelta(hours=72))
        delivery(old, Delivery.Status.QUEUED)
        delivery(old, Delivery.Status.SENDING)
    with time_machine.travel(at(9, 12), tick=False):
        delivery(old, Delivery.Status.FAILED)  # failed yesterday

    stats = metrics.lead_stats(now=NOW)

    assert stats == metrics.LeadStats(
        imported_today=4,
        awaiting_review=2,
        quarantined_today=1,
        delivered_today=2,
        deliveries_failed_today=2,
        deliveries_waiting=2,
        deliveries_ambiguous=1,
    )


def test_leads_per_plz_with_current_subscribers():
    since = NOW - timedelta(days=90)
    for _ in range(3):
        lead("10115", at(5))
    lead("20095", at(6))
    lead("80331", at(6))
    lead("80331", at(7))
    lead(None, at(7), Lead.Status.REVIEW)  # no PLZ: not on the chart
    lead("99999", since - timedelta(minutes=1))  # before the window
    PlzSubscription.objects.create(user=UserFactory(), plz="10115", status="active", source="manual")
    PlzSubscription.objects.create(
        user=UserFactory(), plz="10115", status="active", current_period_end=NOW + timedelta(days=3)
    )
    PlzSubscription.objects.create(user=UserFactory(), plz="10115", status="canceled")
    PlzSubscription.objects.create(user=UserFactory(), plz="20095", status="past_due")

    with time_machine.travel(NOW, tick=False):
        rows = metrics.leads_per_plz(since=since)

    assert rows == (
        metrics.PlzLeads("10115", 3, 2),
        metrics.PlzLeads("80331", 2, 0),
        metrics.PlzLeads("20095", 1, 0),
    )
    with time_machine.travel(NOW, tick=False):
        assert metrics.leads_per_plz(since=since, limit=1) == (metrics.PlzLeads("10115", 3, 2),)


# --- time series -------------------------------------------------------------------------------------------------


def test_revenue_by_day_is_billed_lines_per_service_day_net_of_credits():
    user = UserFactory()
    first = invoice(user, date(2026, 3, 2), 2500)
    charge = line(first, date(2026, 3, 1), 1500)
    line(first, date(2026, 3, 1), 1000)
    second = invoice(user, date(2026, 3, 3), 500, Invoice.Status.PAID)
    line(second, date(2026, 3, 2), 1500)
    line(second, date(2026, 3, 1), -1500, credit_for=charge)  # a credit counts against the day it corrects
    void = invoice(user, date(2026, 3, 4), 999, Invoice.Status.VOID)
    line(void, date(2026, 3, 3), 999)
    eur = invoice(UserFactory(), date(2026, 3, 4), 700, currency="eur")
    line(eur, date(2026, 3, 3), 700)
    line(invoice(user, date(2026, 3, 6), 100), date(2026, 3, 5), 100)  # after the period

    series = metrics.revenue_by_day(first_day=date(2026, 3, 1), last_day=date(2026, 3, 4))

    assert series.days == (date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4))
    assert series.by_currency == {"eur": (0, 0, 700, 0), "usd": (1000, 1500, 0, 0)}
    assert series.total("usd") == 2500
    assert series.total("gbp") == 0


def test_claims_by_day_in_the_billing_time_zone(settings):
    settings.BILLING_TIME_ZONE = "Europe/Berlin"
    claim(claimed_at=at(20, 10, tz=BERLIN, month=2))  # c1: held all period
    claim(claimed_at=at(25, tz=BERLIN, month=2), released_at=at(1, tz=BERLIN))  # c2: ended exactly at the start
    claim(claimed_at=at(2, 23, 30, tz=BERLIN), released_at=at(4, 10, tz=BERLIN))  # c3: held 3-02..3-04
    claim(claimed_at=at(3, 0, 30, tz=BERLIN))  # c4: 3-03 in Berlin (still 3-02 in UTC)
    claim(claimed_at=at(27, tz=BERLIN, month=2), released_at=at(3, tz=BERLIN))  # c5: last day 3-02
    claim(claimed_at=at(6, 0, 0, tz=BERLIN))  # c6: after the period

    series = metrics.claims_by_day(first_day=date(2026, 3, 1), last_day=date(2026, 3, 5))

    assert series.new == (0, 1, 1, 0, 0)
    assert series.held == (2, 3, 3, 3, 2)
    assert series.total_new == 2


def test_claims_by_day_with_nothing():
    series = metrics.claims_by_day(first_day=date(2026, 3, 1), last_day=date(2026, 3, 3))
    assert series.new == (0, 0, 0) and series.held == (0, 0, 0)


def _claims_by_day_by_hand(days: tuple[date, ...], tz: ZoneInfo) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The definition, claim by claim: started on d; held on d = started before d ended and active after d began."""
    spans = list(Claim.objects.values_list("claimed_at", "released_at"))
    new, held = [], []
    for day in days:
        start = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        new.append(sum(1 for claimed, _ in spans if start <= claimed < end))
        held.append(sum(1 for claimed, released in spans if claimed < end and (released is None or released > start)))
    return tuple(new), tuple(held)


def test_claims_by_day_caches_past_days_and_still_follows_every_change(django_assert_num_queries):
    """Past days come from the cache after the first read; writes with past times, releases and new claims today
    all show at the next read, exactly as the claims say."""
    rng = random.Random(8)
    first, last = date(2026, 3, 1), date(2026, 3, 10)  # NOW is 3-10 12:00: nine past days and today
    start = datetime(2026, 2, 20, tzinfo=UTC)

    def some_time() -> datetime:
        return start + timedelta(minutes=rng.randrange(0, 18 * 24 * 60 + 11 * 60))

    for _ in range(40):
        claimed = some_time()
        ended = claimed + timedelta(hours=rng.randrange(1, 200)) if rng.random() < 0.6 else None
        claim(claimed_at=claimed, released_at=ended if ended is not None and ended < NOW else None)
    with time_machine.travel(NOW, tick=False):
        first_read = metrics.claims_by_day(first_day=first, last_day=last)
        assert (first_read.new, first_read.held) == _claims_by_day_by_hand(first_read.days, UTC)
        with django_assert_num_queries(1):  # the counts only: every past day is cached and still matches
            assert metrics.claims_by_day(first_day=first, last_day=last) == first_read

        changes = [
            lambda: claim(claimed_at=datetime(2026, 3, 4, 9, tzinfo=UTC)),  # written late, for a past day
            lambda: claim(claimed_at=datetime(2026, 3, 2, tzinfo=UTC), released_at=datetime(2026, 3, 6, tzinfo=UTC)),
            lambda: claim(claimed_at=NOW - timedelta(hours=1)),  # today
            lambda: Claim.objects.filter(pk=Claim.objects.filter(status="active").earliest("claimed_at").pk).update(
                status="released",
                released_at=NOW - timedelta(minutes=5),  # released today
            ),
            lambda: Claim.objects.filter(pk=Claim.objects.filter(status="active").latest("claimed_at").pk).update(
                status="expired",
                released_at=datetime(2026, 3, 9, 23, 59, tzinfo=UTC),  # ended yesterday, late
            ),
        ]
        for change in changes:
            change()
            series = metrics.claims_by_day(first_day=first, last_day=last)
            assert (series.new, series.held) == _claims_by_day_by_hand(series.days, UTC)
        assert series != first_read


def test_claims_by_day_reuses_the_cached_days_on_the_next_day(django_assert_num_queries):
    claim(claimed_at=datetime(2026, 3, 5, 8, tzinfo=UTC))
    claim(claimed_at=datetime(2026, 3, 8, 8, tzinfo=UTC), released_at=datetime(2026, 3, 10, 9, tzinfo=UTC))
    with time_machine.travel(NOW, tick=False):
        metrics.claims_by_day(first_day=date(2026, 3, 4), last_day=date(2026, 3, 10))
    claim(claimed_at=datetime(2026, 3, 11, 7, tzinfo=UTC))
    # 1 the counts, 2 + 3 started / ended on 3-10 (the one past day not cached yet)
    with time_machine.travel(NOW + timedelta(days=1), tick=False), django_assert_num_queries(3):
        series = metrics.claims_by_day(first_day=date(2026, 3, 5), last_day=date(2026, 3, 11))
    assert series.new == (1, 0, 0, 1, 0, 0, 1)
    assert series.held == (1, 1, 1, 2, 2, 2, 2)  # the claim released on 3-10 was held that day


def test_revenue_by_day_caches_days_and_follows_billing_credits_and_voids(django_assert_num_queries):
    user = UserFactory()
    first_invoice = invoice(user, date(2026, 3, 2), 2500)
    charge = line(first_invoice, date(2026, 3, 1), 1500)
    line(first_invoice, date(2026, 3, 1), 1000)
    days = {"first_day": date(2026, 3, 1), "last_day": date(2026, 3, 4)}

    assert metrics.revenue_by_day(**days).by_currency == {"usd": (2500, 0, 0, 0)}
    with django_assert_num_queries(1):  # the counts of lines and void invoices only: the days are cached
        assert metrics.revenue_by_day(**days).by_currency == {"usd": (2500, 0, 0, 0)}
    # The daily job bills 3-02 on 3-03; a credit corrects 3-01 on a later invoice.
    second = invoice(user, date(2026, 3, 3), 200)
    line(second, date(2026, 3, 2), 1700)
    line(second, date(2026, 3, 1), -1500, credit_for=charge)
    assert metrics.revenue_by_day(**days).by_currency == {"usd": (1000, 1700, 0, 0)}
    # Voiding the second invoice takes its lines out (their count stays the same: the void invoices' does not).
    Invoice.objects.filter(pk=second.pk).update(status=Invoice.Status.VOID)
    assert metrics.revenue_by_day(**days).by_currency == {"usd": (2500, 0, 0, 0)}
    line(invoice(UserFactory(), date(2026, 3, 5), 300, currency="eur"), date(2026, 3, 4), 300)
    assert metrics.revenue_by_day(**days).by_currency == {"eur": (0, 0, 0, 300), "usd": (2500, 0, 0, 0)}


# --- integrations ------------------------------------------------------------------------------------------------


def test_webhook_health(settings):
    settings.STRIPE_ENABLED = True
    webhook(NOW - timedelta(hours=1), valid=True, processed=True)
    webhook(NOW - timedelta(hours=2), valid=True, processed=False)  # our handler raised
    webhook(NOW - timedelta(hours=3), valid=False, processed=False)  # bad signature
    webhook(NOW - timedelta(days=2), valid=True, processed=False)
    webhook(NOW - timedelta(days=8), valid=True, processed=False)  # older than a week

    health = metrics.webhook_health(now=NOW)

    assert health == metrics.WebhookHealth(
        stripe_configured=True,
        received_24h=3,
        failed_24h=1,
        invalid_24h=1,
        failed_7d=2,
        last_received_at=NOW - timedelta(hours=1),
        last_processed_at=NOW - timedelta(hours=1),
        last_failed_at=NOW - timedelta(hours=2),
    )


def test_webhook_health_without_any_webhook(settings):
    settings.STRIPE_ENABLED = False
    health = metrics.webhook_health(now=NOW)
    assert not health.stripe_configured
    assert (health.received_24h, health.failed_7d, health.last_received_at) == (0, 0, None)


@pytest.mark.parametrize(
    ("configured", "row", "status"),
    [
        (False, None, "off"),
        (True, None, "never"),
        (True, {"last_poll_at": NOW - timedelta(minutes=10), "last_success_at": NOW - timedelta(minutes=10)}, "ok"),
        (True, {"last_poll_at": NOW - timedelta(minutes=50), "last_success_at": NOW - timedelta(minutes=50)}, "stale"),
        (True, {"last_poll_at": NOW, "consecutive_failures": 2, "last_error": "HTTP 401"}, "failing"),
        (False, {"last_poll_at": NOW, "last_success_at": NOW}, "off"),
    ],
)
def test_dialfire_health(settings, configured, row, status):
    settings.DIALFIRE_BASE_URL = "https://dialfire.test" if configured else ""
    if row is not None:
        ImportSource.objects.create(name=ImportSource.DIALFIRE, imported_total=7, **row)
    health = metrics.dialfire_health(now=NOW)
    assert health.status == status
    assert health.configured is configured
    if row is not None:
        assert health.imported_total == 7
        assert health.last_poll_at == row["last_poll_at"]
        assert health.last_error == row.get("last_error", "")
