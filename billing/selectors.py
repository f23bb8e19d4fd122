"""Billing reads. `pricing_quote_for` is the seam the claims services use to freeze a claim's price."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, QuerySet, Subquery, Sum
from django.urls import reverse

from accounts.models import User
from billing import ledger, pricing
from billing.models import Invoice, PricingConfig
from billing.services import billing_time_zone, billing_today, claim_grace, claim_spans
from cases.models import Case
from claims.models import Claim


@dataclass(frozen=True)
class PriceQuote:
    daily_price_cents: int
    currency: str
    pricing_version: int | None


def active_pricing_config() -> PricingConfig | None:
    return PricingConfig.objects.filter(is_active=True).first()


def pricing_quote_for(*, score: int) -> PriceQuote:
    """The daily price a claim on a case with this score costs now, under the active pricing version.

    Before staff publish a first version, the flat default from settings applies (version None).
    """
    config = active_pricing_config()
    if config is None:
        return PriceQuote(
            daily_price_cents=settings.DEFAULT_DAILY_PRICE_CENTS,
            currency=settings.DEFAULT_CURRENCY,
            pricing_version=None,
        )
    return PriceQuote(
        daily_price_cents=pricing.price_for(config.rule(), score),
        currency=config.currency,
        pricing_version=config.version,
    )


# Pricing versions are never edited (a change publishes a new row), so a version's table of prices never goes stale.
_PRICE_TABLES: dict[int, tuple[int, ...]] = {}


def price_table_for(*, config_id: int) -> tuple[int, ...]:
    """The daily price in cents for every score 0–100 under one pricing version (index = score).

    The claims fast path passes this to PostgreSQL, which checks under the claim's locks that this version is
    still the active one; the prices themselves are always billing.pricing's."""
    table = _PRICE_TABLES.get(config_id)
    if table is None:
        rule = PricingConfig.objects.get(pk=config_id).rule()
        table = tuple(pricing.price_for(rule, score) for score in range(pricing.MIN_SCORE, pricing.MAX_SCORE + 1))
        if len(_PRICE_TABLES) > 64:
            _PRICE_TABLES.clear()
        _PRICE_TABLES[config_id] = table
    return table


def invoice_list_for(*, user: User) -> QuerySet[Invoice]:
    """A user's own invoices, newest first, with their line count."""
    return Invoice.objects.filter(user=user).annotate(line_count=Count("lines")).order_by("-invoice_date", "-id")


def invoice_list_staff(
    *,
    status: str = "",
    user_id: int | None = None,
    email: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    currency: str = "",
) -> QuerySet[Invoice]:
    """Every user's invoices for the back office, filtered, newest first, each with its user (one query)."""
    qs = Invoice.objects.select_related("user")
    if status:
        qs = qs.filter(status=status)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if email:
        qs = qs.filter(user__email=email.lower())  # e-mails are stored lower-case (User.save)
    if date_from:
        qs = qs.filter(invoice_date__gte=date_from)
    if date_to:
        qs = qs.filter(invoice_date__lte=date_to)
    if currency:
        qs = qs.filter(currency=currency.lower())
    return qs.order_by("-invoice_date", "-id")


def invoice_detail_for(*, user: User, invoice_id: int) -> Invoice:
    """One of the user's own invoices with its lines; Invoice.DoesNotExist for anyone else's (a 404, not a 403).

    Each line gets `case_label`: the case number while the user still owns the case (or is staff), otherwise
    "Case #<id>" — when a claim ends, access to the case's masked fields ends, on past invoices too.
    """
    invoice = Invoice.objects.prefetch_related("lines").get(pk=invoice_id, user=user)
    lines = list(invoice.lines.all())
    case_ids = {line.case_id for line in lines if line.case_id}
    owned = (
        set()
        if user.is_staff
        else set(Case.objects.filter(pk__in=case_ids, assigned_to=user).values_list("pk", flat=True))
    )
    for line in lines:
        sees = line.case_id is not None and (user.is_staff or line.case_id in owned)
        line.visible_case_number = line.case_number if sees else None
        line.case_label = line.case_number if sees else (f"Case #{line.case_id}" if line.case_id else "—")
    return invoice


@dataclass(frozen=True)
class ChargePreview:
    day: date
    claims: int
    totals: dict[str, int]


def _per_currency(prices: Iterable[tuple[int, str]]) -> dict[str, int]:
    """(cents, currency) pairs summed per currency."""
    totals: dict[str, int] = {}
    for cents, currency in prices:
        totals[currency] = totals.get(currency, 0) + cents
    return totals


def tomorrow_charge_for(*, user: User) -> ChargePreview:
    """What the user's active claims add for tomorrow if held (same-case duplicates counted once)."""
    tomorrow = billing_today() + ledger.ONE_DAY
    if not user.billing_active:
        return ChargePreview(day=tomorrow, claims=0, totals={})
    rows = Claim.objects.filter(user=user, status=Claim.Status.ACTIVE).values_list(
        "case_id", "daily_price_cents", "currency"
    )
    per_case: dict[int, tuple[int, str]] = {}
    for case_id, cents, currency in rows:
        per_case.setdefault(case_id, (cents, currency))
    return ChargePreview(day=tomorrow, claims=len(per_case), totals=_per_currency(per_case.values()))


def today_charge_for(*, user: User) -> ChargePreview:
    """What today's invoice holds so far (the daily job bills it once today has ended): every case the user held
    at some moment today, released ones included unless released within CLAIM_GRACE_MINUTES, once, at its frozen
    price — the daily job's own rules (billing.ledger). A claim still inside its grace counts: kept, it is billed."""
    today = billing_today()
    if not user.billing_active:
        return ChargePreview(day=today, claims=0, totals={})
    tz = billing_time_zone()
    spans = claim_spans(user_ids=[user.pk], first=today, last=today, tz=tz)[user.pk]
    days = ledger.billable_days(spans, tz=tz, grace=claim_grace(), first=today, last=today)
    totals = _per_currency((b.span.price_cents, b.span.currency) for b in days)
    return ChargePreview(day=today, claims=len(days), totals=totals)


def month_totals_for(*, user: User, today: date | None = None) -> dict[str, int]:
    """Cents per currency invoiced to the user for days of the current month (void invoices excluded)."""
    today = today or billing_today()
    rows = (
        Invoice.objects.filter(user=user, invoice_date__gte=today.replace(day=1), invoice_date__lte=today)
        .exclude(status=Invoice.Status.VOID)
        .values("currency")
        .annotate(total=Sum("total_cents"))
        .order_by("currency")
    )
    return {row["currency"]: row["total"] for row in rows}


__all__ = [
    "ChargePreview",
    "PriceQuote",
    "active_pricing_config",
    "billing_time_zone",
    "invoice_detail_for",
    "invoice_list_for",
    "month_totals_for",
    "price_table_for",
    "pricing_quote_for",
    "today_charge_for",
    "tomorrow_charge_for",
]


# --- the payment gate ----------------------------------------------------------------------------------------------
PAYMENT_METHOD_REQUIRED = "Add a card before claiming new cases: open the Billing page and choose “Add / change card”."
PAYMENT_PAST_DUE = (
    "Invoice {number} is unpaid for more than {days} days. Settle it (Billing page → “Manage billing”) before "
    "claiming new cases; the cases you hold stay yours."
)


@dataclass(frozen=True)
class PaymentGate:
    """Why new claims are refused (HTTP 402): a machine-readable code, a sentence, and where to fix it."""

    code: str  # payment_method_required | payment_past_due
    detail: str
    fix_url: str


def payment_gate_cutoff() -> date:
    """An invoice that failed and fell due before this day gates new claims (PAYMENT_GRACE_DAYS of grace)."""
    return billing_today() - timedelta(days=settings.PAYMENT_GRACE_DAYS)


def payment_gate_annotations() -> dict[str, Any]:
    """Columns for a query on User that tell the gate's facts, so the claim path learns them in the statement
    that locks the user (its budget is six statements). Local reads: our invoices, the mirrored Stripe customer."""
    from djstripe.models import Customer  # dj-stripe's models: not at claims' import time

    from billing import stripe_gateway

    cutoff = payment_gate_cutoff()
    overdue = Invoice.objects.filter(user_id=OuterRef("pk"), status=Invoice.Status.FAILED, due_date__lt=cutoff)
    columns: dict[str, Any] = {"gate_overdue": Subquery(overdue.order_by("due_date").values("number")[:1])}
    if stripe_gateway.is_enabled():
        cards = Customer.objects.filter(
            subscriber_id=OuterRef("pk"), livemode=settings.STRIPE_LIVE_MODE, default_payment_method__isnull=False
        )
        columns["gate_has_card"] = Exists(cards)
    return columns


def payment_gate_from(*, user: User) -> PaymentGate | None:
    """The gate for a user row loaded with payment_gate_annotations(); None when new claims are allowed."""
    if not hasattr(user, "gate_overdue"):
        return payment_gate_for(user=user)  # a row loaded without the columns: read them (one query)
    if not user.billing_active:
        return None  # billing is off for this account: nothing to pay
    fix_url = reverse("billing")
    if getattr(user, "gate_has_card", True) is False:
        return PaymentGate("payment_method_required", PAYMENT_METHOD_REQUIRED, fix_url)
    if user.gate_overdue is not None:
        detail = PAYMENT_PAST_DUE.format(number=user.gate_overdue, days=settings.PAYMENT_GRACE_DAYS)
        return PaymentGate("payment_past_due", detail, fix_url)
    return None


def payment_gate_for(*, user: User) -> PaymentGate | None:
    """None when the user may claim new cases (one query)."""
    row = User.objects.only("id", "billing_active").annotate(**payment_gate_annotations()).get(pk=user.pk)
    return payment_gate_from(user=row)
