"""Billing reads. `pricing_quote_for` is the seam the claims services use to freeze a claim's price."""

from dataclasses import dataclass

from django.conf import settings


@dataclass(frozen=True)
class PriceQuote:
    daily_price_cents: int
    currency: str
    pricing_version: int | None


def pricing_quote_for(*, score: int) -> PriceQuote:
    """The daily price a claim on a case with this score costs now (until pricing models land: flat)."""
    return PriceQuote(
        daily_price_cents=settings.DEFAULT_DAILY_PRICE_CENTS,
        currency=settings.DEFAULT_CURRENCY,
        pricing_version=None,
    )
