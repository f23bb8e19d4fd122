"""The billable-day rule, pure (no ORM).

A claim is billable for every calendar day in BILLING_TIME_ZONE on which it was active at any moment.
Its active interval is half-open, [claimed_at, released_at): released exactly at midnight means the day
that midnight starts is not billed. Exceptions (PRODUCT.md):
- released within the grace period of being claimed (released_at - claimed_at <= grace) → never billed;
- the same user holding the same case more than once on one day → that day is billed once, by the
  earliest of those claims (its frozen price).
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

ONE_DAY = timedelta(days=1)
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class ClaimSpan:
    """What billing needs of one claim of one user."""

    claim_id: int
    case_id: int
    claimed_at: datetime
    released_at: datetime | None
    price_cents: int
    currency: str
    score: int
    case_number: str = ""


@dataclass(frozen=True)
class BillableDay:
    span: ClaimSpan
    day: date


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in tz (midnight never falls in a DST gap in the zones we bill in)."""
    return datetime.combine(day, time.min, tzinfo=tz)


def last_ready_day(now: datetime, *, tz: ZoneInfo, grace: timedelta) -> date:
    """The latest day that can be billed at `now`: it has ended, and so has the grace of a claim made in its last
    instant — otherwise a claim made at 23:59 and released at 00:05 would already have been billed."""
    day = (now - grace).astimezone(tz).date() - ONE_DAY
    # (now - grace) lies in day+1 or later, so day+1 started at or before now - grace: day ended by then.
    return day


def in_grace(span: ClaimSpan, grace: timedelta) -> bool:
    return span.released_at is not None and span.released_at - span.claimed_at <= grace


def claim_days(span: ClaimSpan, *, tz: ZoneInfo, first: date, last: date) -> Iterator[date]:
    """Days in [first, last] on which the claim was active at some moment (grace not applied here)."""
    start = span.claimed_at.astimezone(tz).date()
    if span.released_at is None:
        end = last
    else:
        if span.released_at <= span.claimed_at:
            return
        end = (span.released_at - _EPSILON).astimezone(tz).date()
    day = max(start, first)
    end = min(end, last)
    while day <= end:
        yield day
        day += ONE_DAY


def billable_days(
    spans: Iterable[ClaimSpan], *, tz: ZoneInfo, grace: timedelta, first: date, last: date
) -> list[BillableDay]:
    """One user's billable claim-days in [first, last], sorted by (day, case): one per (case, day)."""
    chosen: dict[tuple[int, date], ClaimSpan] = {}
    for span in spans:
        if in_grace(span, grace):
            continue
        for day in claim_days(span, tz=tz, first=first, last=last):
            key = (span.case_id, day)
            held = chosen.get(key)
            if held is None or (span.claimed_at, span.claim_id) < (held.claimed_at, held.claim_id):
                chosen[key] = span
    return [BillableDay(span=span, day=day) for (_, day), span in sorted(chosen.items())]
