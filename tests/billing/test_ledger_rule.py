"""The billable-day rule (billing/ledger.py) against a brute-force oracle, across both DST switches."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from billing.ledger import ClaimSpan, billable_days, last_ready_day

GRACE = timedelta(minutes=15)
ZONES = [ZoneInfo("UTC"), ZoneInfo("Europe/Berlin")]
FIRST = date(2026, 1, 1)
LAST = date(2027, 1, 1)  # 366 days, both 2026 DST switches (29 March, 25 October) inside
DST_INSTANTS = [  # the switches themselves, in UTC
    datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
    datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
]


def span(claimed_at, released_at=None, *, claim_id=1, case_id=1, price=1000) -> ClaimSpan:
    return ClaimSpan(claim_id, case_id, claimed_at, released_at, price, "usd", 80)


def oracle_days(spans, tz, first=FIRST, last=LAST) -> set[tuple[int, date]]:
    """Independent statement of the rule: (case, day) for each day whose [00:00, next 00:00) the claim touched."""
    days = set()
    day = first
    while day <= last:
        start = datetime(day.year, day.month, day.day, tzinfo=tz)
        nxt = day + timedelta(days=1)
        end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz)
        for s in spans:
            if s.released_at is not None and s.released_at - s.claimed_at <= GRACE:
                continue
            if s.claimed_at < end and (s.released_at is None or s.released_at > start):
                days.add((s.case_id, day))
        day = nxt
    return days


def computed(spans, tz, first=FIRST, last=LAST):
    result = billable_days(spans, tz=tz, grace=GRACE, first=first, last=last)
    pairs = [(b.span.case_id, b.day) for b in result]
    assert len(pairs) == len(set(pairs)), "a (case, day) billed twice"
    return set(pairs), result


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_a_claim_held_all_year_is_billed_once_per_calendar_day_b4(tz):
    claimed = datetime(2025, 12, 31, 23, 30, tzinfo=tz)  # the evening before the window
    pairs, result = computed([span(claimed)], tz)
    assert len(result) == 366
    assert [b.day for b in result] == [FIRST + timedelta(days=i) for i in range(366)]
    assert pairs == oracle_days([span(claimed)], tz)


@pytest.mark.parametrize("tz", ZONES, ids=str)
@pytest.mark.parametrize("hour", range(24))
def test_one_day_claims_starting_every_hour_of_every_day_b4(tz, hour):
    """366 claims a day each, one started at this hour on every day of the year: each bills its days only."""
    spans = []
    for i in range(366):
        day = FIRST + timedelta(days=i)
        claimed = datetime(day.year, day.month, day.day, hour, 30, tzinfo=tz)
        spans.append(span(claimed, claimed + timedelta(hours=20), claim_id=i, case_id=i))
    pairs, _ = computed(spans, tz)
    assert pairs == oracle_days(spans, tz)
    # 20 hours starting at HH:30 ends the same day before 03:30 local, else touches the next day.
    crosses = sum(
        1
        for s in spans
        if (s.released_at - timedelta(microseconds=1)).astimezone(tz).date() != s.claimed_at.astimezone(tz).date()
    )
    expected = 366 + crosses - (1 if spans[-1].released_at.astimezone(tz).date() > LAST else 0)
    assert len(pairs) == expected


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_claims_across_each_dst_switch_bill_both_local_days(tz):
    for switch in DST_INSTANTS:
        claimed = switch - timedelta(hours=3)
        released = switch + timedelta(hours=25)
        local_days = {(claimed.astimezone(tz) + timedelta(hours=h)).date() for h in range(29)}
        pairs, _ = computed([span(claimed, released)], tz)
        assert pairs == oracle_days([span(claimed, released)], tz)
        assert {d for _, d in pairs} == {
            d for d in local_days if claimed.astimezone(tz).date() <= d <= released.astimezone(tz).date()
        }


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_release_day_is_billed_and_midnight_release_is_not(tz):
    claimed = datetime(2026, 5, 1, 10, 0, tzinfo=tz)
    pairs, _ = computed([span(claimed, datetime(2026, 5, 3, 0, 0, 1, tzinfo=tz))], tz)
    assert {d for _, d in pairs} == {date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)}
    pairs, _ = computed([span(claimed, datetime(2026, 5, 3, 0, 0, tzinfo=tz))], tz)
    assert {d for _, d in pairs} == {date(2026, 5, 1), date(2026, 5, 2)}


@pytest.mark.parametrize("tz", ZONES, ids=str)
def test_release_within_grace_is_never_billed_even_across_midnight(tz):
    claimed = datetime(2026, 3, 28, 23, 55, tzinfo=tz)
    assert computed([span(claimed, claimed + GRACE)], tz)[0] == set()
    assert computed([span(claimed, claimed + timedelta(minutes=3))], tz)[0] == set()
    after = computed([span(claimed, claimed + GRACE + timedelta(seconds=1))], tz)[0]
    assert {d for _, d in after} == {date(2026, 3, 28), date(2026, 3, 29)}


def test_same_case_reclaimed_same_day_is_billed_once_at_the_first_claims_price():
    tz = ZoneInfo("Europe/Berlin")
    first = span(datetime(2026, 6, 1, 9, tzinfo=tz), datetime(2026, 6, 1, 11, tzinfo=tz), claim_id=1, price=1500)
    again = span(datetime(2026, 6, 1, 15, tzinfo=tz), datetime(2026, 6, 2, 8, tzinfo=tz), claim_id=2, price=1000)
    _, result = computed([again, first], tz)
    assert [(b.day, b.span.claim_id, b.span.price_cents) for b in result] == [
        (date(2026, 6, 1), 1, 1500),
        (date(2026, 6, 2), 2, 1000),
    ]


def test_a_grace_release_does_not_shadow_a_later_billable_claim_that_day():
    tz = ZoneInfo("UTC")
    short = span(datetime(2026, 6, 1, 9, tzinfo=tz), datetime(2026, 6, 1, 9, 5, tzinfo=tz), claim_id=1, price=1)
    held = span(datetime(2026, 6, 1, 10, tzinfo=tz), datetime(2026, 6, 1, 18, tzinfo=tz), claim_id=2, price=900)
    _, result = computed([short, held], tz)
    assert [(b.day, b.span.claim_id) for b in result] == [(date(2026, 6, 1), 2)]


def test_a_day_is_ready_only_after_it_and_its_grace_have_ended():
    tz = ZoneInfo("Europe/Berlin")
    assert last_ready_day(datetime(2026, 6, 2, 0, 14, 59, tzinfo=tz), tz=tz, grace=GRACE) == date(2026, 5, 31)
    assert last_ready_day(datetime(2026, 6, 2, 0, 15, tzinfo=tz), tz=tz, grace=GRACE) == date(2026, 6, 1)
    # 00:15 on the day after the spring switch (23-hour day) and the autumn one (25-hour day).
    assert last_ready_day(datetime(2026, 3, 30, 0, 15, tzinfo=tz), tz=tz, grace=GRACE) == date(2026, 3, 29)
    assert last_ready_day(datetime(2026, 10, 26, 0, 15, tzinfo=tz), tz=tz, grace=GRACE) == date(2026, 10, 25)


instants = st.datetimes(min_value=datetime(2025, 12, 20), max_value=datetime(2027, 1, 10), timezones=st.just(UTC))
near_switch = st.builds(
    lambda base, minutes: base + timedelta(minutes=minutes),
    st.sampled_from(DST_INSTANTS),
    st.integers(-3000, 3000),
)


@st.composite
def claim_sets(draw):
    spans = []
    for i in range(draw(st.integers(1, 8))):
        claimed = draw(st.one_of(instants, near_switch))
        duration = draw(
            st.one_of(
                st.none(),
                st.timedeltas(min_value=timedelta(0), max_value=timedelta(minutes=30)),
                st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=40)),
            )
        )
        released = None if duration is None else claimed + duration
        spans.append(
            span(claimed, released, claim_id=i, case_id=draw(st.integers(1, 3)), price=draw(st.integers(0, 5000)))
        )
    return spans


@settings(max_examples=150, deadline=None)
@given(claim_sets(), st.sampled_from(ZONES))
def test_rule_matches_the_oracle_for_random_claims(spans, tz):
    pairs, result = computed(spans, tz)
    assert pairs == oracle_days(spans, tz)
    for b in result:  # the charge is the earliest same-case claim active that day
        rivals = [
            s
            for s in spans
            if s.case_id == b.span.case_id
            and not (s.released_at is not None and s.released_at - s.claimed_at <= GRACE)
            and (s.case_id, b.day) in oracle_days([s], tz, b.day, b.day)
        ]
        assert b.span == min(rivals, key=lambda s: (s.claimed_at, s.claim_id))
