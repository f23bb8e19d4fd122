"""Audit timelines: one merged, time-ordered, paginated read over every audit source of a case or a user.

Each source (claim events, document accesses, invoice status changes, Stripe events, lead deliveries and lead events,
logins, admin changes) is queried for at most `page_size + 1` rows past the cursor, newest first; the rows are then
merged in Python. Memory and query count are bounded by the page, never by the history: a user with 100,000 claim
events costs the same page as one with ten. Pages are keyed on the last row shown — (time, source rank, id) — so a
deep page is as cheap as the first and rows written meanwhile never shift a page.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import User
from audit.sources import Entry, Kind, Source, Subject, UserContext, sources_for
from cases import masking
from cases.models import Contact

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
WITHHELD_NOTE = "[withheld: names a case contact]"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

__all__ = ["Kind", "Subject", "TimelinePage", "timeline_for_case", "timeline_for_user", "timeline_kinds_for"]


class TimelineError(ValueError):
    """Invalid timeline input (a cursor that does not parse); views answer 400."""


@dataclass(frozen=True)
class Cursor:
    at: datetime
    rank: int
    pk: int

    def encode(self) -> str:
        micros = (self.at - EPOCH) // timedelta(microseconds=1)
        return f"{micros}.{self.rank}.{self.pk}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            micros, rank, pk = (int(part) for part in text.split("."))
            return cls(at=EPOCH + timedelta(microseconds=micros), rank=rank, pk=pk)
        except (ValueError, OverflowError):
            raise TimelineError("The page cursor is not valid; start again from the newest entries.") from None


@dataclass(frozen=True)
class TimelinePage:
    entries: list[Entry]
    next_cursor: str | None
    kinds: tuple[Kind, ...]  # the kinds this page was read from (requested ∩ permitted)
    available_kinds: tuple[Kind, ...]  # every kind the viewer may read for this subject
    user: User | None = None  # the subject of a user timeline, loaded once for the page's header


def timeline_kinds_for(*, viewer: User, subject: Subject) -> tuple[Kind, ...]:
    """The kinds of events viewer may read on a timeline of this subject (each source has its own permission)."""
    if not (viewer.is_active and viewer.is_staff):
        return ()
    kinds = {source.kind for source in sources_for(subject) if viewer.has_perm(source.permission)}
    return tuple(kind for kind in Kind if kind in kinds)


# --- Reading a page -----------------------------------------------------------------------------------------------


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def _after_cursor(source: Source, cursor: Cursor) -> Q:
    """Rows strictly older than the cursor in the order (time desc, rank desc, id desc)."""
    at = source.time_field
    if source.rank < cursor.rank:
        return Q(**{f"{at}__lte": cursor.at})
    if source.rank > cursor.rank:
        return Q(**{f"{at}__lt": cursor.at})
    return Q(**{f"{at}__lt": cursor.at}) | Q(**{at: cursor.at, "pk__lt": cursor.pk})


def _page_of(source: Source, branches: list[QuerySet], *, filters: list[Q], limit: int) -> QuerySet:
    """One query for a source's page: the newest `limit` ids of each branch (each read along its own index),
    unioned, then those rows with their related rows. Never more than `limit` rows per branch, whatever the
    history holds."""
    order = (f"-{source.time_field}", "-pk")
    ids = [branch.filter(*filters).order_by(*order).values("pk")[:limit] for branch in branches]
    if len(ids) == 1:
        return source.rows().filter(pk__in=ids[0]).order_by(*order)[:limit]
    if connection.features.supports_slicing_ordering_in_compound:
        return source.rows().filter(pk__in=ids[0].union(*ids[1:])).order_by(*order)[:limit]
    # SQLite (the local demo) cannot LIMIT inside a UNION: each branch stays bounded inside its own IN instead.
    either = Q(pk__in=ids[0])
    for more in ids[1:]:
        either |= Q(pk__in=more)
    return source.rows().filter(either).order_by(*order)[:limit]


def _read(
    sources: Sequence[Source],
    branches_per_source: Iterable[list[QuerySet]],
    *,
    kinds: tuple[Kind, ...],
    available: tuple[Kind, ...],
    since: date | None,
    until: date | None,
    before: str | None,
    page_size: int,
) -> TimelinePage:
    page_size = max(1, min(page_size, MAX_PAGE_SIZE))
    cursor = Cursor.decode(before) if before else None
    rows: list[tuple] = []
    for source, branches in zip(sources, branches_per_source, strict=True):
        if not branches:
            continue
        at = source.time_field
        filters = []
        if since:
            filters.append(Q(**{f"{at}__gte": _day_start(since)}))
        if until:
            filters.append(Q(**{f"{at}__lt": _day_start(until + timedelta(days=1))}))
        if cursor:
            filters.append(_after_cursor(source, cursor))
        # One query per source (+1 row to know whether an older page exists).
        page = _page_of(source, branches, filters=filters, limit=page_size + 1)
        rows += [(getattr(obj, at), source.rank, obj.pk, source, obj) for obj in page]
    rows.sort(key=lambda row: row[:3], reverse=True)
    # Only the rows shown are described (links, labels): up to a page per source is read, one page is kept.
    entries = [source.describe(obj) for *_, source, obj in rows[:page_size]]
    next_cursor = None
    if len(rows) > page_size:
        at, rank, pk = rows[page_size - 1][:3]
        next_cursor = Cursor(at=at, rank=rank, pk=pk).encode()
    return TimelinePage(entries=entries, next_cursor=next_cursor, kinds=kinds, available_kinds=available)


def _selected(viewer: User, subject: Subject, kinds: Iterable[str] | None) -> tuple[list[Source], tuple, tuple]:
    available = timeline_kinds_for(viewer=viewer, subject=subject)
    wanted = set(available) if not kinds else {Kind(k) for k in kinds if k in Kind._value2member_map_}
    chosen = tuple(kind for kind in available if kind in wanted)
    sources = [s for s in sources_for(subject) if s.kind in chosen and viewer.has_perm(s.permission)]
    return sources, chosen, available


def _withhold_contact_notes(*, viewer: User, entries: list[Entry], case_ids: set[int]) -> None:
    """Support staff without contact access: a free-text note that repeats a contact's details is withheld."""
    if not getattr(viewer, "contact_data_withheld", False):
        return
    ids = case_ids | {e.case_id for e in entries if e.case_id}
    if not ids or not any(e.note for e in entries):
        return
    secrets: dict[int, list[str]] = {}
    contacts = Contact.objects.filter(case_id__in=ids).only("case_id", "name", "phones", "emails", "mailing_address")
    for contact in contacts:
        values = [contact.name, contact.mailing_address, *(contact.phones or []), *(contact.emails or [])]
        secrets.setdefault(contact.case_id, []).extend(str(v) for v in values if v and len(str(v).strip()) >= 3)
    every_secret = [s for values in secrets.values() for s in values]
    for entry in entries:
        if not entry.note:
            continue
        # A note on a case is checked against that case's contacts; one without a case (an admin change message on
        # a user) against every contact on the page.
        candidates = secrets.get(entry.case_id, []) if entry.case_id else every_secret
        if masking.text_reveals(entry.note, candidates):
            entry.note = WITHHELD_NOTE


def timeline_for_case(
    *,
    case_id: int,
    viewer: User,
    kinds: Iterable[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    before: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> TimelinePage:
    """One page of a case's audit timeline, newest first, from the sources viewer may read.

    Queries: one per selected source (the Stripe source adds one for the webhook deliveries of its rows), plus one
    for the case's contacts when viewer is support staff without contact access and a note could repeat them.
    """
    sources, chosen, available = _selected(viewer, Subject.CASE, kinds)
    page = _read(
        sources,
        (source.for_case(case_id) for source in sources),
        kinds=chosen,
        available=available,
        since=since,
        until=until,
        before=before,
        page_size=page_size,
    )
    _withhold_contact_notes(viewer=viewer, entries=page.entries, case_ids={case_id})
    return page


def timeline_for_user(
    *,
    user_id: int,
    viewer: User,
    kinds: Iterable[str] | None = None,
    since: date | None = None,
    until: date | None = None,
    before: str | None = None,
    page_size: int = DEFAULT_PAGE_SIZE,
) -> TimelinePage:
    """One page of a user's audit timeline — what happened to their account and what they did — newest first.

    Queries: one to load the user, one per selected source (Stripe: one more for the user's Stripe customer ids
    when selected, and one for the webhook deliveries of its rows), plus one for contacts as in timeline_for_case.
    Raises User.DoesNotExist.
    """
    ctx = UserContext(User.objects.get(pk=user_id))
    sources, chosen, available = _selected(viewer, Subject.USER, kinds)
    page = _read(
        sources,
        (source.for_user(ctx) for source in sources),
        kinds=chosen,
        available=available,
        since=since,
        until=until,
        before=before,
        page_size=page_size,
    )
    _withhold_contact_notes(viewer=viewer, entries=page.entries, case_ids=set())
    return replace(page, user=ctx.user)
