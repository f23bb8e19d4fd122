"""Pricing rules, pure (no ORM): a case's score (0–100) → its daily price in integer cents.

Three models: flat (one price), banded (score bands → price) and multiplier (score × cents-per-point, clamped
to a floor and a ceiling). Money is integer cents everywhere; nothing here touches a float.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

MIN_SCORE = 0
MAX_SCORE = 100

ERR_SCORE_RANGE = "A score must be an integer between 0 and 100."
ERR_NO_BANDS = "Banded pricing needs at least one band."
ERR_BAND_ORDER = "Band {min}–{max}: the lower score must not exceed the upper score."
ERR_BAND_RANGE = "Band {min}–{max}: scores must lie between 0 and 100."
ERR_BAND_PRICE = "Band {min}–{max}: the price must be a whole number of cents ≥ 0."
ERR_BAND_OVERLAP = "Bands {a} and {b} overlap."
ERR_BAND_GAP = "No band covers scores {min}–{max}."
ERR_PRICE = "{name} must be a whole number of cents ≥ 0."
ERR_FLOOR_CEILING = "The floor must not exceed the ceiling."
ERR_CURRENCY = "The currency must be a three-letter ISO 4217 code."


class PricingModel(StrEnum):
    FLAT = "flat"
    BANDED = "banded"
    MULTIPLIER = "multiplier"


class PricingError(ValueError):
    """The configuration is invalid; `errors` lists every problem found, in human words."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True, order=True)
class Band:
    min_score: int
    max_score: int
    price_cents: int

    def __str__(self) -> str:
        return f"{self.min_score}–{self.max_score}"


# PRODUCT.md's default bands: 80–100 $15.00, 60–79 $10.00, 40–59 $5.00, 0–39 $2.50.
DEFAULT_BANDS: tuple[Band, ...] = (
    Band(80, 100, 1500),
    Band(60, 79, 1000),
    Band(40, 59, 500),
    Band(0, 39, 250),
)


@dataclass(frozen=True)
class PricingRule:
    model: PricingModel
    currency: str
    flat_price_cents: int = 0
    bands: tuple[Band, ...] = field(default=())
    cents_per_point: int = 0
    floor_cents: int = 0
    ceiling_cents: int | None = None


def _is_cents(value: object) -> bool:
    # bool is an int subclass; True cents is a bug, not a price.
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def band_errors(bands: Iterable[Band]) -> list[str]:
    """Every reason these bands are not a partition of 0–100 with non-negative prices (empty when valid)."""
    bands = sorted(bands, key=lambda b: (b.min_score, b.max_score))
    if not bands:
        return [ERR_NO_BANDS]
    errors: list[str] = []
    for band in bands:
        if not (isinstance(band.min_score, int) and isinstance(band.max_score, int)):
            errors.append(ERR_BAND_RANGE.format(min=band.min_score, max=band.max_score))
            continue
        if band.min_score > band.max_score:
            errors.append(ERR_BAND_ORDER.format(min=band.min_score, max=band.max_score))
        if band.min_score < MIN_SCORE or band.max_score > MAX_SCORE:
            errors.append(ERR_BAND_RANGE.format(min=band.min_score, max=band.max_score))
        if not _is_cents(band.price_cents):
            errors.append(ERR_BAND_PRICE.format(min=band.min_score, max=band.max_score))
    if errors:
        return errors
    expected = MIN_SCORE
    previous: Band | None = None
    for band in bands:
        if band.min_score > expected:
            errors.append(ERR_BAND_GAP.format(min=expected, max=band.min_score - 1))
        elif band.min_score < expected and previous is not None:
            errors.append(ERR_BAND_OVERLAP.format(a=previous, b=band))
        expected = max(expected, band.max_score + 1)
        previous = band
    if expected <= MAX_SCORE:
        errors.append(ERR_BAND_GAP.format(min=expected, max=MAX_SCORE))
    return errors


def rule_errors(rule: PricingRule) -> list[str]:
    """Every reason this rule cannot price all scores 0–100 (empty when valid)."""
    errors: list[str] = []
    if not (isinstance(rule.currency, str) and len(rule.currency) == 3 and rule.currency.isalpha()):
        errors.append(ERR_CURRENCY)
    if rule.model == PricingModel.FLAT:
        if not _is_cents(rule.flat_price_cents):
            errors.append(ERR_PRICE.format(name="The flat price"))
    elif rule.model == PricingModel.BANDED:
        errors += band_errors(rule.bands)
    elif rule.model == PricingModel.MULTIPLIER:
        for name, value in (("The cents per point", rule.cents_per_point), ("The floor", rule.floor_cents)):
            if not _is_cents(value):
                errors.append(ERR_PRICE.format(name=name))
        if rule.ceiling_cents is not None:
            if not _is_cents(rule.ceiling_cents):
                errors.append(ERR_PRICE.format(name="The ceiling"))
            elif _is_cents(rule.floor_cents) and rule.floor_cents > rule.ceiling_cents:
                errors.append(ERR_FLOOR_CEILING)
    else:
        errors.append(f"Unknown pricing model {rule.model!r}.")
    return errors


def validate_rule(rule: PricingRule) -> PricingRule:
    errors = rule_errors(rule)
    if errors:
        raise PricingError(errors)
    return rule


def price_for(rule: PricingRule, score: int) -> int:
    """The daily price in cents of a claim on a case with this score under this (valid) rule."""
    if not isinstance(score, int) or isinstance(score, bool) or not MIN_SCORE <= score <= MAX_SCORE:
        raise PricingError([ERR_SCORE_RANGE])
    if rule.model == PricingModel.FLAT:
        return rule.flat_price_cents
    if rule.model == PricingModel.BANDED:
        for band in rule.bands:
            if band.min_score <= score <= band.max_score:
                return band.price_cents
        raise PricingError([ERR_BAND_GAP.format(min=score, max=score)])
    price = max(score * rule.cents_per_point, rule.floor_cents)
    if rule.ceiling_cents is not None:
        price = min(price, rule.ceiling_cents)
    return price


def bands_from_data(data: Iterable[Mapping[str, object]]) -> tuple[Band, ...]:
    """Bands from their stored JSON form: [{"min_score": 80, "max_score": 100, "price_cents": 1500}, …]."""
    bands = []
    for item in data:
        values = [item.get(key) for key in ("min_score", "max_score", "price_cents")]
        # Whole numbers only: 1.5 or "80" in stored JSON is a typo to refuse, not to round.
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise PricingError([f"A band needs whole-number min_score, max_score and price_cents: {dict(item)!r}."])
        bands.append(Band(*values))  # type: ignore[arg-type]
    return tuple(sorted(bands, key=lambda b: -b.min_score))


def bands_to_data(bands: Iterable[Band]) -> list[dict[str, int]]:
    return [
        {"min_score": b.min_score, "max_score": b.max_score, "price_cents": b.price_cents}
        for b in sorted(bands, key=lambda b: -b.min_score)
    ]
