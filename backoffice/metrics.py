"""The operator's figures: what the admin dashboard, the control rooms and the admin API show.

Every selector is a fixed number of set-based queries (aggregates grouped in the database), whatever the number of
rows; Python only loops over the few groups that come back (currencies, states, days). Days are billing days in
BILLING_TIME_ZONE, like the invoices. Money is integer cents per ISO currency, never summed across currencies.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import (
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from backoffice.jobs import RUN_NOW_ALLOWED
from backoffice.models import JobRun
from billing import ledger
from billing.models import Invoice, InvoiceEvent, InvoiceLine
from billing.services import billing_time_zone
from cases.models import Case
from claims.models import Claim
from leads.models import Delivery, ImportSource, Lead, PlzSubscription, eligible_subscriptions_q

ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Money:
    currency: str
    cents: int


@dataclass(frozen=True)
class Bucket:
    """An amount and the number of invoices it comes from."""

    cents: int
    count: int


def _today(now: datetime | None, tz: ZoneInfo) -> date:
    return (now or timezone.now()).astimezone(tz).date()


def _sum(field: str, condition: Q) -> Coalesce:
    return Coalesce(Sum(field, filter=condition), Value(0))


# --- billing -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CurrencyBilling:
    """One currency's invoices dated in the period, by status.

    billed = every invoice that is not void (open + paid + failed + uncollectible + draft); collected = paid;
    pending = open or draft (charge not settled yet); failed = payment failed and not yet settled; uncollectible =
    written off; void = cancelled (not part of billed).
    """

    currency: str
    billed: Bucket
    collected: Bucket
    pending: Bucket
    failed: Bucket
    uncollectible: Bucket
    void: Bucket


@dataclass(frozen=True)
class BillingSummary:
    first_day: date
    last_day: date
    currencies: tuple[CurrencyBilling, ...]
    # Invoices dated in the period whose payment failed at least once (an InvoiceEvent to "failed"), paid since or not.
    payment_failures: int
    # Invoices of any date whose status is "failed" now: the ones to chase (users past PAYMENT_GRACE_DAYS cannot claim).
    invoices_failing: int

    def currency(self, code: str) -> CurrencyBilling | None:
        return next((row for row in self.currencies if row.currency == code), None)


_BILLING_BUCKETS: dict[str, Q] = {
    "billed": ~Q(status=Invoice.Status.VOID),
    "collected": Q(status=Invoice.Status.PAID),
    "pending": Q(status__in=[Invoice.Status.OPEN, Invoice.Status.DRAFT]),
    "failed": Q(status=Invoice.Status.FAILED),
    "uncollectible": Q(status=Invoice.Status.UNCOLLECTIBLE),
    "void": Q(status=Invoice.Status.VOID),
}


def billing_summary(*, first_day: date, last_day: date) -> BillingSummary:
    """Billed / collected / pending / failed per currency for invoices dated first_day..last_day (inclusive).

    One query: invoices in the period, plus every currently failed invoice (for `invoices_failing`), grouped by
    currency with filtered aggregates.
    """
    in_period = Q(invoice_date__gte=first_day, invoice_date__lte=last_day)
    failing_now = Q(status=Invoice.Status.FAILED)
    ever_failed = Exists(InvoiceEvent.objects.filter(invoice_id=OuterRef("pk"), to_status=Invoice.Status.FAILED))
    aggregates = {}
    for name, condition in _BILLING_BUCKETS.items():
        aggregates[f"{name}_cents"] = _sum("total_cents", in_period & condition)
        aggregates[f"{name}_count"] = Count("id", filter=in_period & condition)
    rows = (
        Invoice.objects.filter(in_period | failing_now)
        .values("currency")
        .annotate(
            **aggregates,
            payment_failures=Count("id", filter=in_period & Q(ever_failed)),
            failing_now=Count("id", filter=failing_now),
        )
        .order_by("currency")
    )
    currencies = []
    payment_failures = invoices_failing = 0
    for row in rows:
        payment_failures += row["payment_failures"]
        invoices_failing += row["failing_now"]
        buckets = {name: Bucket(row[f"{name}_cents"], row[f"{name}_count"]) for name in _BILLING_BUCKETS}
        if any(bucket.count for bucket in buckets.values()):
            currencies.append(CurrencyBilling(currency=row["currency"], **buckets))
    return BillingSummary(
        first_day=first_day,
        last_day=last_day,
        currencies=tuple(currencies),
        payment_failures=payment_failures,
        invoices_failing=invoices_failing,
    )


def month_bounds(*, month: date) -> tuple[date, date]:
    """First and last day of the month containing `month`."""
    first = month.replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    return first, following - timedelta(days=1)


# --- claims ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActiveClaimStats:
    """What the claims held now and today's claims add up to: the dashboard's figures."""

    active: int
    claimed_today: int  # claims started today (billing day)
    ended_today: int  # claims released, expired or reassigned today
    expiring_within_24h: int  # active claims whose expires_at falls in the next 24 hours
    active_not_billed: int  # active claims of users whose billing is off: they add no revenue
    # What the active claims add per day (their frozen daily prices), per currency, billed users only.
    daily_revenue: tuple[Money, ...]


@dataclass(frozen=True)
class ClaimStats(ActiveClaimStats):
    """ActiveClaimStats and the totals of every claim ever made, by status (the claims control room, the API)."""

    total: int
    released: int
    expired: int
    reassigned: int


def active_claim_stats(*, now: datetime | None = None) -> ActiveClaimStats:
    """The active claims and today's, and the estimated daily revenue of the active claims. One query grouped by
    currency, over the active claims and the claims started or ended today only (three indexes, OR-ed): its cost
    follows what is held now, never the history.

    The estimate sums the price frozen on each active claim. A case has at most one active claim (a database
    constraint), so no case is counted twice; claims of users with billing off are counted apart.
    """
    now = now or timezone.now()
    tz = billing_time_zone()
    day_start = ledger.day_start(_today(now, tz), tz)
    active = Q(status=Claim.Status.ACTIVE)
    started_today = Q(claimed_at__gte=day_start, claimed_at__lte=now)
    ended_today = Q(released_at__gte=day_start, released_at__lte=now)
    rows = (
        Claim.objects.filter(active | started_today | ended_today)
        .values("currency")
        .annotate(
            active=Count("id", filter=active),
            claimed_today=Count("id", filter=started_today),
            ended_today=Count("id", filter=ended_today),
            expiring=Count("id", filter=active & Q(expires_at__gt=now, expires_at__lte=now + timedelta(hours=24))),
            not_billed=Count("id", filter=active & Q(user__billing_active=False)),
            revenue=_sum("daily_price_cents", active & Q(user__billing_active=True)),
        )
        .order_by("currency")
    )
    totals = dict.fromkeys(("active", "claimed_today", "ended_today", "expiring", "not_billed"), 0)
    revenue = []
    for row in rows:
        for key in totals:
            totals[key] += row[key]
        if row["revenue"]:
            revenue.append(Money(row["currency"], row["revenue"]))
    return ActiveClaimStats(
        active=totals["active"],
        claimed_today=totals["claimed_today"],
        ended_today=totals["ended_today"],
        expiring_within_24h=totals["expiring"],
        active_not_billed=totals["not_billed"],
        daily_revenue=tuple(revenue),
    )


def claim_stats(*, now: datetime | None = None) -> ClaimStats:
    """active_claim_stats and the totals by status. Two queries: the totals are one COUNT per status along the
    (status, expires_at) index (index-only, no row is read), the rest is active_claim_stats."""
    by_status = dict(Claim.objects.values_list("status").annotate(n=Count("*")).order_by())
    current = active_claim_stats(now=now)
    figures = {field.name: getattr(current, field.name) for field in fields(ActiveClaimStats)}
    # Every count by status from the same statement, so that they add up to the total.
    figures["active"] = by_status.get(Claim.Status.ACTIVE, 0)
    return ClaimStats(
        **figures,
        total=sum(by_status.values()),
        released=by_status.get(Claim.Status.RELEASED, 0),
        expired=by_status.get(Claim.Status.EXPIRED, 0),
        reassigned=by_status.get(Claim.Status.REASSIGNED, 0),
    )


# --- cases -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StateCases:
    state: str
    total: int
    available: int  # open, in a claimable stage, nobody holds it
    claimed: int  # someone holds it through an active claim


@dataclass(frozen=True)
class CaseStats:
    total: int
    available: int
    claimed: int
    unavailable: int  # neither: closed, sold or withdrawn, and not held
    by_state: tuple[StateCases, ...]  # most cases first


def case_stats() -> CaseStats:
    """Cases available vs claimed, overall and per state. One query grouped by state."""
    rows = (
        Case.objects.values("state")
        .annotate(
            total=Count("id"),
            available=Count("id", filter=Case.claimable_now_q()),
            claimed=Count("id", filter=Q(assigned_to__isnull=False)),
        )
        .order_by("-total", "state")
    )
    by_state = tuple(StateCases(row["state"], row["total"], row["available"], row["claimed"]) for row in rows)
    total = sum(row.total for row in by_state)
    available = sum(row.available for row in by_state)
    claimed = sum(row.claimed for row in by_state)
    return CaseStats(
        total=total, available=available, claimed=claimed, unavailable=total - available - claimed, by_state=by_state
    )


# --- leads -------------------------------------------------------------------------------------------------------

DELIVERED_STATUSES = (Delivery.Status.SENT, Delivery.Status.DELIVERED)


@dataclass(frozen=True)
class LeadStats:
    imported_today: int  # leads received today (billing day), whatever their status
    awaiting_review: int  # now in the staff review queue (PLZ unreadable or ambiguous)
    quarantined_today: int  # received today but unusable (corrupt PDF…)
    delivered_today: int  # e-mails sent today (sent or confirmed delivered)
    deliveries_failed_today: int  # failed or bounced, last touched today
    deliveries_waiting: int  # planned or queued, not sent yet (includes the 72-hour exclusive window)
    deliveries_ambiguous: int  # stuck in "sending": staff must confirm whether the e-mail left


def lead_stats(*, now: datetime | None = None) -> LeadStats:
    """Today's lead flow and the queues staff act on. Two queries (leads, deliveries)."""
    now = now or timezone.now()
    tz = billing_time_zone()
    day_start = ledger.day_start(_today(now, tz), tz)
    today = Q(received_at__gte=day_start, received_at__lte=now)
    leads = Lead.objects.aggregate(
        imported_today=Count("id", filter=today),
        awaiting_review=Count("id", filter=Q(status=Lead.Status.REVIEW)),
        quarantined_today=Count("id", filter=today & Q(status=Lead.Status.QUARANTINED)),
    )
    deliveries = Delivery.objects.aggregate(
        delivered_today=Count("id", filter=Q(status__in=DELIVERED_STATUSES, sent_at__gte=day_start)),
        failed_today=Count(
            "id", filter=Q(status__in=[Delivery.Status.FAILED, Delivery.Status.BOUNCED], updated_at__gte=day_start)
        ),
        waiting=Count("id", filter=Q(status__in=[Delivery.Status.PLANNED, Delivery.Status.QUEUED])),
        ambiguous=Count("id", filter=Q(status=Delivery.Status.SENDING)),
    )
    return LeadStats(
        imported_today=leads["imported_today"],
        awaiting_review=leads["awaiting_review"],
        quarantined_today=leads["quarantined_today"],
        delivered_today=deliveries["delivered_today"],
        deliveries_failed_today=deliveries["failed_today"],
        deliveries_waiting=deliveries["waiting"],
        deliveries_ambiguous=deliveries["ambiguous"],
    )


@dataclass(frozen=True)
class PlzLeads:
    plz: str
    leads: int
    subscribers: int  # subscriptions receiving leads now


def leads_per_plz(*, since: datetime, limit: int = 15) -> tuple[PlzLeads, ...]:
    """The PLZs with the most leads received since `since` (with a readable PLZ), and how many subscribers each has
    now. Two queries: leads grouped by PLZ (top `limit`), subscriptions grouped by those PLZs."""
    top = list(
        Lead.objects.filter(received_at__gte=since, plz__isnull=False)
        .values("plz")
        .annotate(n=Count("id"))
        .order_by("-n", "plz")[:limit]
    )
    plzs = [row["plz"] for row in top]
    subscribers = dict(
        PlzSubscription.objects.filter(eligible_subscriptions_q(timezone.now()), plz__in=plzs)
        .values("plz")
        .annotate(n=Count("id"))
        .values_list("plz", "n")
    )
    return tuple(PlzLeads(plz=row["plz"], leads=row["n"], subscribers=subscribers.get(row["plz"], 0)) for row in top)


# --- time series -------------------------------------------------------------------------------------------------
#
# A past day's figures are read once and kept in the shared cache, one entry per day; each load then checks them
# against a fingerprint read in one statement of COUNT(*)s along indexes (no row is read, nothing is grouped), and
# recomputes whatever it no longer matches. A claim is written with the time it happens, so a closed day's claims
# change only when rows are written with past times (a data import, the demo's history, tests): the counts of the
# closed days' claim starts and ends then change. A day's revenue changes after the day, when it is billed (the
# daily job bills yesterday), credited or voided: invoice lines are append-only, so the count of lines in the
# window grows, and a voided invoice stays void, so the count of void invoices grows. Counts miss only a row whose
# time moves from one past day to another, which nothing does (claims' times and invoice lines never change).
# Today's claim figures are read live on every load.

DAY_CACHE_PREFIX = "metrics:day:v1"
DAY_CACHE_SECONDS = 100 * 24 * 3600  # outlives the longest window shown (90 days); every read is checked anyway


def _days(first_day: date, last_day: date) -> tuple[date, ...]:
    return tuple(first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1))


def _day_keys(name: str, days: Sequence[date]) -> dict[str, date]:
    return {f"{DAY_CACHE_PREFIX}:{name}:{day.isoformat()}": day for day in days}


def _cached_days(name: str, days: Sequence[date]) -> dict[date, Any]:
    keys = _day_keys(name, days)
    return {keys[key]: value for key, value in cache.get_many(list(keys)).items()}


def _cache_days(name: str, values: dict[date, Any]) -> None:
    keys = _day_keys(name, list(values))
    cache.set_many({key: values[day] for key, day in keys.items()}, timeout=DAY_CACHE_SECONDS)


def _counts(querysets: dict[str, QuerySet]) -> dict[str, int]:
    """One COUNT(*) per queryset, all in one statement (a scalar subquery each; the database counts along an
    index when the filter fits one)."""
    parts, params = [], []
    for name, queryset in querysets.items():
        sql, query_params = queryset.order_by().values("pk").query.sql_with_params()
        # The names are ours (identifiers in this module); the values travel as parameters.
        parts.append(f"(SELECT COUNT(*) FROM ({sql}) AS {name}_rows)")  # noqa: S608
        params.extend(query_params)
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        return dict(zip(querysets, cursor.fetchone(), strict=True))


def _checked_days(
    name: str,
    days: Sequence[date],
    compute: Callable[[date, date], dict[date, Any]],
    valid: Callable[[dict[date, Any]], bool],
) -> dict[date, Any]:
    """The figures of `days` (consecutive) from the cache, the days it lacks computed for their range, and every day
    computed again when the whole does not pass `valid` (it no longer matches the fingerprint)."""
    values = _cached_days(name, days)
    missing = [day for day in days if day not in values]
    fresh = compute(missing[0], missing[-1]) if missing else {}
    values |= fresh
    if not valid(values):
        values = fresh = compute(days[0], days[-1])
    if fresh:
        _cache_days(name, fresh)
    return values


@dataclass(frozen=True)
class RevenueSeries:
    """Revenue per billing day and currency: see revenue_by_day."""

    days: tuple[date, ...]
    by_currency: dict[str, tuple[int, ...]]  # one value per day, in cents

    def total(self, currency: str) -> int:
        return sum(self.by_currency.get(currency, ()))


def _revenue_days(first_day: date, last_day: date, *, void: int) -> dict[date, dict]:
    """Per day: every line dated that day (the fingerprint's count), and the billed amount per currency."""
    rows = (
        InvoiceLine.objects.filter(service_date__gte=first_day, service_date__lte=last_day)
        .values("service_date", "invoice__currency")
        .annotate(lines=Count("*"), cents=_sum("amount_cents", ~Q(invoice__status=Invoice.Status.VOID)))
        .order_by()
    )
    values = {day: {"void": void, "lines": 0, "cents": {}} for day in _days(first_day, last_day)}
    for row in rows:
        value = values[row["service_date"]]
        value["lines"] += row["lines"]
        if row["cents"]:
            value["cents"][row["invoice__currency"]] = row["cents"]
    return values


def revenue_by_day(*, first_day: date, last_day: date) -> RevenueSeries:
    """Revenue of a day = what was billed for that day: the sum of the invoice lines whose service date is that
    billing day (charges minus the credits later written against them), on invoices that are not void. It is billed
    revenue, not collected cash (see billing_summary for that), and a day shows 0 until the daily job has billed it
    (today, and yesterday before 00:15).

    One query when the cached days still match (the count of lines in the period and of void invoices, both along
    an index); else a second, grouped by day and currency, for the days that do not."""
    days = _days(first_day, last_day)
    found = _counts(
        {
            "lines": InvoiceLine.objects.filter(service_date__gte=first_day, service_date__lte=last_day),
            "void": Invoice.objects.filter(status=Invoice.Status.VOID),
        }
    )
    values = _checked_days(
        "revenue",
        days,
        partial(_revenue_days, void=found["void"]),
        lambda values: (
            sum(v["lines"] for v in values.values()) == found["lines"]
            and all(v["void"] == found["void"] for v in values.values())
        ),
    )
    series: dict[str, list[int]] = {}
    for n, day in enumerate(days):
        for currency, cents in values[day]["cents"].items():
            series.setdefault(currency, [0] * len(days))[n] = cents
    return RevenueSeries(days=days, by_currency={currency: tuple(v) for currency, v in sorted(series.items())})


@dataclass(frozen=True)
class ClaimSeries:
    days: tuple[date, ...]
    new: tuple[int, ...]  # claims started that day
    held: tuple[int, ...]  # claims active at some moment of that day (what the billing job charges, before grace)

    @property
    def total_new(self) -> int:
        return sum(self.new)


# The last instant a claim was active: released exactly at midnight means the day before was its last day.
_LAST_ACTIVE = ExpressionWrapper(F("released_at") - ONE_MICROSECOND, output_field=DateTimeField())


def _claim_days(first_day: date, last_day: date, *, tz: ZoneInfo) -> dict[date, tuple[int, int]]:
    """Per day: the claims started that day and the claims whose last active day it was. Two grouped queries, over
    the claims started or ended in the range only (along the claimed_at and released_at indexes)."""
    start, end = ledger.day_start(first_day, tz), ledger.day_start(last_day + ledger.ONE_DAY, tz)
    started = (
        Claim.objects.filter(claimed_at__gte=start, claimed_at__lt=end)
        .annotate(day=TruncDate("claimed_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    ended = (
        Claim.objects.filter(released_at__gt=start, released_at__lte=end)
        .annotate(day=TruncDate(_LAST_ACTIVE, tzinfo=tz))
        .values("day")
        .annotate(n=Count("*"))
        .order_by()
    )
    new, gone = {row["day"]: row["n"] for row in started}, {row["day"]: row["n"] for row in ended}
    return {day: (new.get(day, 0), gone.get(day, 0)) for day in _days(first_day, last_day)}


def claims_by_day(*, first_day: date, last_day: date, now: datetime | None = None) -> ClaimSeries:
    """Claims started per billing day and claims held per billing day. One query when the past days are cached and
    still match, else two more for them; the cost follows the claims made or ended in the period (and the active
    ones), never the whole history.

    A claim is held on every day from the day it started to the day of its last active instant ([claimed_at,
    released_at), as the billing rule counts). The last day's count comes from what is held now: held(last) =
    active claims + claims released after the last day began − claims started after it ended (a released claim
    always has released_at, an active one never). Each earlier day follows from the next: held(d) = held(d + 1) −
    started(d + 1) + claims whose last active day was d.
    """
    tz = billing_time_zone()
    today = _today(now, tz)
    days = _days(first_day, last_day)
    closed = [day for day in days if day < today]  # cached
    live = [day for day in days if day >= today]  # counted on every call

    def start(day: date) -> datetime:
        return ledger.day_start(day, tz)

    period_start, period_end = start(first_day), start(last_day + ledger.ONE_DAY)
    live_start = start(live[0]) if live else period_end
    counts = {
        "active": Claim.objects.filter(status=Claim.Status.ACTIVE),
        "started_after": Claim.objects.filter(claimed_at__gte=period_end),
        "ended_after": Claim.objects.filter(released_at__gt=period_end),
    }
    if closed:  # the fingerprint of the cached days: every claim started or ended in them
        counts["closed_started"] = Claim.objects.filter(claimed_at__gte=period_start, claimed_at__lt=live_start)
        counts["closed_ended"] = Claim.objects.filter(released_at__gt=period_start, released_at__lte=live_start)
    for n, day in enumerate(live):
        counts[f"started_{n}"] = Claim.objects.filter(
            claimed_at__gte=start(day), claimed_at__lt=start(day + ledger.ONE_DAY)
        )
        counts[f"ended_{n}"] = Claim.objects.filter(
            released_at__gt=start(day), released_at__lte=start(day + ledger.ONE_DAY)
        )
    found = _counts(counts)

    per_day: dict[date, tuple[int, int]] = {}
    if closed:
        per_day = _checked_days(
            f"claims:{tz.key}",
            closed,
            partial(_claim_days, tz=tz),
            lambda values: (
                (sum(v[0] for v in values.values()), sum(v[1] for v in values.values()))
                == (found["closed_started"], found["closed_ended"])
            ),
        )
    for n, day in enumerate(live):
        per_day[day] = (found[f"started_{n}"], found[f"ended_{n}"])
    new = [per_day[day][0] for day in days]
    ended_on = [per_day[day][1] for day in days]  # claims whose last active day is that day
    held = [0] * len(days)
    held[-1] = found["active"] + ended_on[-1] + found["ended_after"] - found["started_after"]
    for n in range(len(days) - 2, -1, -1):
        held[n] = held[n + 1] - new[n + 1] + ended_on[n]
    return ClaimSeries(days=days, new=tuple(new), held=tuple(held))


# --- integrations ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookHealth:
    stripe_configured: bool
    received_24h: int
    failed_24h: int  # signed correctly but our handler (or dj-stripe's) raised: Stripe retries these
    invalid_24h: int  # signature or payload refused
    failed_7d: int
    last_received_at: datetime | None
    last_processed_at: datetime | None
    last_failed_at: datetime | None


def webhook_health(*, now: datetime | None = None) -> WebhookHealth:
    """Stripe webhook deliveries as dj-stripe recorded them (WebhookEventTrigger). One query: a subquery per figure,
    each along an index on the delivery time (backoffice migration 0002), so the last day's or week's deliveries
    are counted and the latest found without reading the whole history.

    dj-stripe keeps a row per request: valid=False for a refused signature, valid=True and processed=False when
    processing raised (the transaction rolled back and Stripe will retry).
    """
    from djstripe.models import WebhookEventTrigger  # dj-stripe's models load after the app registry

    now = now or timezone.now()
    day_ago, week_ago = now - timedelta(hours=24), now - timedelta(days=7)
    triggers = WebhookEventTrigger.objects.order_by()
    failed = triggers.filter(valid=True, processed=False)

    def count(rows: QuerySet) -> Subquery:
        return Subquery(rows.annotate(n=Func(F("pk"), function="COUNT", output_field=IntegerField())).values("n"))

    def latest(rows: QuerySet) -> Subquery:
        return Subquery(rows.order_by("-created").values("created")[:1])

    figures = {
        "received_24h": count(triggers.filter(created__gte=day_ago)),
        "failed_24h": count(failed.filter(created__gte=day_ago)),
        "invalid_24h": count(triggers.filter(valid=False, created__gte=day_ago)),
        "failed_7d": count(failed.filter(created__gte=week_ago)),
        "last_received_at": latest(triggers),
        "last_processed_at": latest(triggers.filter(processed=True)),
        "last_failed_at": latest(failed),
    }
    # The figures ride on any one row of the table; an empty table has none, and nothing to count.
    row = next(iter(triggers.annotate(**figures).values(*figures)[:1]), None)
    if row is None:
        row = {name: 0 if name.endswith(("_24h", "_7d")) else None for name in figures}
    return WebhookHealth(stripe_configured=bool(settings.STRIPE_ENABLED), **row)


@dataclass(frozen=True)
class ImportHealth:
    configured: bool  # DIALFIRE_BASE_URL set; otherwise the import is off on purpose
    status: str  # off | never | ok | stale | failing
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str
    last_error_at: datetime | None
    consecutive_failures: int
    imported_total: int


# The import runs every 15 minutes; two missed runs in a row mean Beat or the worker is not running it.
DIALFIRE_STALE_AFTER = timedelta(minutes=45)


def dialfire_health(*, now: datetime | None = None) -> ImportHealth:
    """The Dialfire import's last poll, success and error (leads.ImportSource). One query."""
    now = now or timezone.now()
    source = ImportSource.objects.filter(name=ImportSource.DIALFIRE).first()
    configured = bool(settings.DIALFIRE_BASE_URL)
    if source is None:
        status = "never" if configured else "off"
        return ImportHealth(configured, status, None, None, "", None, 0, 0)
    if not configured:
        status = "off"
    elif source.consecutive_failures:
        status = "failing"
    elif source.last_success_at is None:
        status = "never"
    elif source.last_poll_at is None or now - source.last_poll_at > DIALFIRE_STALE_AFTER:
        status = "stale"
    else:
        status = "ok"
    return ImportHealth(
        configured=configured,
        status=status,
        last_poll_at=source.last_poll_at,
        last_success_at=source.last_success_at,
        last_error=source.last_error,
        last_error_at=source.last_error_at,
        consecutive_failures=source.consecutive_failures,
        imported_total=source.imported_total,
    )


# --- scheduled jobs ----------------------------------------------------------------------------------------------

# A job is "late" when its last success is older than its schedule allows by more than this.
JOB_LATE_TOLERANCE = timedelta(minutes=10)


@dataclass(frozen=True)
class JobStatus:
    periodic_task_id: int
    name: str
    task: str
    enabled: bool
    schedule: str
    in_code: bool  # defined in CELERY_BEAT_SCHEDULE (else added by staff in the admin)
    run_now: bool  # on the run-now allow-list
    last_sent_at: datetime | None  # when Beat last sent it (django-celery-beat's last_run_at)
    last_status: str | None  # of the latest recorded run (JobRun.Status), None if never run
    last_started_at: datetime | None
    last_finished_at: datetime | None
    last_error: str
    last_success_at: datetime | None
    state: str  # ok | running | failing | late | never | disabled


def _job_state(task: PeriodicTask) -> str:
    if not task.enabled:
        return "disabled"
    if task.last_status == JobRun.Status.FAILURE:
        return "failing"
    if task.last_status in (JobRun.Status.QUEUED, JobRun.Status.RUNNING, JobRun.Status.RETRY):
        return "running"
    if task.last_success_at is None:
        return "never"
    try:
        # Negative when the run after the last success is overdue; the schedule computes "now" itself.
        overdue = -task.schedule.remaining_estimate(task.last_success_at)
    except (AttributeError, TypeError, ValueError):
        return "ok"  # a schedule kind without an estimate (solar, clocked one-off)
    return "late" if overdue > JOB_LATE_TOLERANCE else "ok"


def _crontab_text(crontab: CrontabSchedule) -> str:
    return _cron_description(
        crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week, crontab.timezone
    )


@lru_cache(maxsize=256)
def _cron_description(minute: str, hour: str, day_of_month: str, month_of_year: str, day_of_week: str, tz: Any) -> str:
    """CrontabSchedule.human_readable, once per schedule and process: cron-descriptor loads its message catalogue
    on every call (a tenth of the dashboard's time, a dozen schedules)."""
    return CrontabSchedule(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
        timezone=tz,
    ).human_readable


def job_statuses() -> tuple[JobStatus, ...]:
    """Every periodic task with its latest run and its latest success. One query: the runs come in as subqueries
    over JobRun's (job, id) and (job, status, finished_at) indexes. "late" is judged by each schedule's own clock
    (the current time)."""
    latest = JobRun.objects.filter(job=OuterRef("name")).order_by("-id")
    success = JobRun.objects.filter(job=OuterRef("name"), status=JobRun.Status.SUCCESS).order_by("-finished_at", "-id")
    tasks = (
        PeriodicTask.objects.select_related("crontab", "interval", "solar", "clocked")
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_started_at=Subquery(latest.values("started_at")[:1]),
            last_finished_at=Subquery(latest.values("finished_at")[:1]),
            last_error=Subquery(latest.values("error")[:1]),
            last_success_at=Subquery(success.values("finished_at")[:1]),
        )
        .order_by("name")
    )
    rows = []
    for task in tasks:
        schedule = _crontab_text(task.crontab) if task.crontab else str(task.interval or task.solar or task.clocked)
        rows.append(
            JobStatus(
                periodic_task_id=task.pk,
                name=task.name,
                task=task.task,
                enabled=task.enabled,
                schedule=schedule,
                in_code=task.name in settings.CELERY_BEAT_SCHEDULE,
                run_now=task.name in RUN_NOW_ALLOWED,
                last_sent_at=task.last_run_at,
                last_status=task.last_status,
                last_started_at=task.last_started_at,
                last_finished_at=task.last_finished_at,
                last_error=task.last_error or "",
                last_success_at=task.last_success_at,
                state=_job_state(task),
            )
        )
    return tuple(rows)
