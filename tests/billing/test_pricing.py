import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.pricing import (
    DEFAULT_BANDS,
    Band,
    PricingError,
    PricingModel,
    PricingRule,
    band_errors,
    bands_from_data,
    bands_to_data,
    price_for,
    rule_errors,
    validate_rule,
)

SCORES = range(0, 101)


def banded(bands=DEFAULT_BANDS) -> PricingRule:
    return PricingRule(model=PricingModel.BANDED, currency="usd", bands=tuple(bands))


@st.composite
def partitions(draw) -> tuple[Band, ...]:
    """A random valid partition of 0–100 into bands with random non-negative prices."""
    cuts = sorted(draw(st.sets(st.integers(1, 100), max_size=12)))
    starts = [0, *cuts]
    ends = [c - 1 for c in cuts] + [100]
    prices = draw(st.lists(st.integers(0, 10_000_000), min_size=len(starts), max_size=len(starts)))
    bands = [Band(s, e, p) for s, e, p in zip(starts, ends, prices, strict=True)]
    return tuple(draw(st.permutations(bands)))


def test_default_bands_match_product_prices():
    rule = banded()
    assert rule_errors(rule) == []
    assert [price_for(rule, s) for s in (0, 39, 40, 59, 60, 79, 80, 100)] == [
        250,
        250,
        500,
        500,
        1000,
        1000,
        1500,
        1500,
    ]


@given(partitions())
def test_every_score_has_exactly_one_band_and_its_price(bands):
    assert band_errors(bands) == []
    rule = banded(bands)
    for score in SCORES:
        matching = [b for b in bands if b.min_score <= score <= b.max_score]
        assert len(matching) == 1
        assert price_for(rule, score) == matching[0].price_cents


@given(partitions(), st.data())
def test_band_edges_belong_to_their_own_band(bands, data):
    rule = banded(bands)
    band = data.draw(st.sampled_from(bands))
    assert price_for(rule, band.min_score) == band.price_cents
    assert price_for(rule, band.max_score) == band.price_cents


@given(partitions(), st.data())
def test_removing_a_band_leaves_a_gap(bands, data):
    if len(bands) < 2:
        return
    victim = data.draw(st.sampled_from(bands))
    errors = band_errors([b for b in bands if b != victim])
    assert errors and "No band covers" in errors[0]


@given(partitions(), st.data())
def test_widening_a_band_makes_an_overlap(bands, data):
    if len(bands) < 2:
        return
    ordered = sorted(bands)
    i = data.draw(st.integers(0, len(ordered) - 2))
    ordered[i] = Band(ordered[i].min_score, ordered[i].max_score + 1, ordered[i].price_cents)
    assert any("overlap" in e for e in band_errors(ordered))


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        ([], "at least one band"),
        ([Band(0, 50, 100), Band(52, 100, 100)], "No band covers scores 51–51"),
        ([Band(1, 100, 100)], "No band covers scores 0–0"),
        ([Band(0, 99, 100)], "No band covers scores 100–100"),
        ([Band(0, 50, 100), Band(50, 100, 100)], "overlap"),
        ([Band(0, 100, -1)], "price"),
        ([Band(0, 101, 1)], "between 0 and 100"),
        ([Band(-1, 100, 1)], "between 0 and 100"),
        ([Band(60, 40, 1), Band(0, 100, 1)], "must not exceed"),
    ],
)
def test_invalid_bands_are_refused_with_a_reason(bands, message):
    errors = band_errors(bands)
    assert any(message in e for e in errors), errors
    with pytest.raises(PricingError):
        validate_rule(banded(bands))


def test_float_prices_are_refused():
    assert band_errors([Band(0, 100, 12.5)])  # type: ignore[arg-type]
    assert rule_errors(PricingRule(model=PricingModel.FLAT, currency="usd", flat_price_cents=1.0))  # type: ignore[arg-type]
    with pytest.raises(PricingError):
        bands_from_data([{"min_score": 0, "max_score": 100, "price_cents": 9.99}])


def test_bands_round_trip_through_json():
    assert sorted(bands_from_data(bands_to_data(DEFAULT_BANDS))) == sorted(DEFAULT_BANDS)


@given(st.integers(0, 100_000))
def test_flat_price_is_the_same_for_every_score(cents):
    rule = PricingRule(model=PricingModel.FLAT, currency="eur", flat_price_cents=cents)
    assert {price_for(rule, s) for s in SCORES} == {cents}


@given(
    per_point=st.integers(0, 10_000),
    floor=st.integers(0, 500_000),
    span=st.one_of(st.none(), st.integers(0, 500_000)),
)
def test_multiplier_is_score_times_rate_clamped(per_point, floor, span):
    ceiling = None if span is None else floor + span
    rule = PricingRule(
        model=PricingModel.MULTIPLIER,
        currency="usd",
        cents_per_point=per_point,
        floor_cents=floor,
        ceiling_cents=ceiling,
    )
    assert rule_errors(rule) == []
    previous = -1
    for score in SCORES:
        price = price_for(rule, score)
        assert isinstance(price, int)
        assert price >= floor or (ceiling is not None and price == ceiling)
        if ceiling is not None:
            assert price <= ceiling
        expected = min(max(score * per_point, floor), ceiling if ceiling is not None else 10**12)
        assert price == expected
        assert price >= previous  # never cheaper for a better score
        previous = price


def test_multiplier_floor_above_ceiling_is_refused():
    rule = PricingRule(
        model=PricingModel.MULTIPLIER, currency="usd", cents_per_point=10, floor_cents=5, ceiling_cents=4
    )
    assert rule_errors(rule) == ["The floor must not exceed the ceiling."]


@pytest.mark.parametrize("score", [-1, 101, True, 50.0, "50"])
def test_scores_outside_0_100_are_refused(score):
    with pytest.raises(PricingError):
        price_for(banded(), score)


@pytest.mark.parametrize("currency", ["", "us", "usdd", "12a"])
def test_currency_must_be_iso_code(currency):
    assert rule_errors(PricingRule(model=PricingModel.FLAT, currency=currency, flat_price_cents=1))
