"""Billing reads. `pricing_quote_for` is the seam the claims services use to freeze a claim's price."""

from dataclasses import dataclass
from datetime import date

from django.conf import settings
from django.db.models import Count, QuerySet, Sum

from accounts.models import User
from billing import ledger, pricing
from billing.models import Invoice, PricingConfig
from billing.services import billing_time_zone, billing_today
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


def invoice_list_for(*, user: User) -> QuerySet[Invoice]:
    """A user's own invoices, newest first, with their line count."""
    return Invoice.objects.filter(user=user).annotate(line_count=Count("lines")).order_by("-invoice_date", "-id")


def invoice_detail_for(*, user: User, invoice_id: int) -> Invoice:
    """One of the user's own invoices with its lines; Invoice.DoesNotExist for anyone else's (a 404, not a 403)."""
    return Invoice.objects.prefetch_related("lines").get(pk=invoice_id, user=user)


@dataclass(frozen=True)
class ChargePreview:
    day: date
    claims: int
    totals: dict[str, int]


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
    totals: dict[str, int] = {}
    for cents, currency in per_case.values():
        totals[currency] = totals.get(currency, 0) + cents
    return ChargePreview(day=tomorrow, claims=len(per_case), totals=totals)


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
    "pricing_quote_for",
    "tomorrow_charge_for",
]
