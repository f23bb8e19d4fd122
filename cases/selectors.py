"""Reads that decide what a user may see of cases."""

from typing import Any

from django.db import connection
from django.db.models import F, OrderBy, Prefetch, QuerySet

from accounts.models import User
from cases.filters import CaseFilters
from cases.models import UNCLAIMABLE_STAGES, Case, Contact, Document
from jsn.lib.postgresql.prepared import fetchall_prepared

# Columns a list needs: the masked ones are fetched too (owners see them), never shown unmasked to others.
LIST_FIELDS = (
    "id",
    "case_number",
    "state",
    "county",
    "filing_date",
    "stage",
    "auction_date",
    "street",
    "city",
    "zip_code",
    "parcel_number",
    "property_type",
    "estimated_value_cents",
    "amount_owed_cents",
    "currency",
    "score",
    "status",
    "assigned_to_id",
    "assigned_at",
)


# The user's cases found through their active claims (index claim_user_status) rather than cases.assigned_to, which
# has no index of its own so that claiming stays a HOT update (cases.models). The two are kept in step by the claims
# services in one transaction; the owner column still decides, the claims only find the rows.
_ACTIVE_CLAIM_CASES_SQL = "SELECT case_id FROM claims_claim WHERE user_id = %s AND status = 'active'"


def owned_cases(qs: QuerySet[Case], *, user: User) -> QuerySet[Case]:
    """The cases in qs that user owns (cases.assigned_to), found by index through the user's active claims."""
    from claims.models import Claim  # claims depends on cases, not the other way round

    active = Claim.objects.filter(user=user, status=Claim.Status.ACTIVE).values("case_id")
    return qs.filter(pk__in=active, assigned_to=user)


# Cases without an auction date come last in either direction of the auction sort ("soonest first" means the
# soonest auction; PostgreSQL and SQLite disagree on where NULLs go by default).
_ORM_ORDER: dict[str, OrderBy] = {
    "auction_date": F("auction_date").asc(nulls_last=True),
    "-auction_date": F("auction_date").desc(nulls_last=True),
}


def case_list_for(*, user: User, filters: CaseFilters) -> QuerySet[Case]:
    """The cases a subscriber may browse, filtered and ordered; masking happens at presentation."""
    qs = Case.objects.only(*LIST_FIELDS)
    if filters.state:
        qs = qs.filter(state=filters.state)
    if filters.county:
        qs = qs.filter(county__iexact=filters.county)
    if filters.stage:
        qs = qs.filter(stage=filters.stage)
    if filters.score_min is not None:
        qs = qs.filter(score__gte=filters.score_min)
    if filters.score_max is not None:
        qs = qs.filter(score__lte=filters.score_max)
    if filters.auction_from:
        qs = qs.filter(auction_date__gte=filters.auction_from)
    if filters.auction_to:
        qs = qs.filter(auction_date__lte=filters.auction_to)
    if filters.claimed == "claimable":
        qs = qs.filter(Case.claimable_now_q())
    elif filters.claimed == "unclaimed":
        qs = qs.filter(assigned_to__isnull=True)
    elif filters.claimed == "claimed":
        qs = qs.filter(assigned_to__isnull=False)
    elif filters.claimed == "mine":
        qs = owned_cases(qs, user=user)
    sort = filters.sort or "-score"
    return qs.order_by(_ORM_ORDER.get(sort, sort), "id")


def case_detail_for(*, user: User, case_id: int) -> Case:
    """One case with its contacts and documents prefetched. Raises Case.DoesNotExist."""
    return Case.objects.prefetch_related(
        Prefetch("contacts", queryset=Contact.objects.order_by("id")),
        Prefetch("documents", queryset=Document.objects.order_by("id")),
    ).get(pk=case_id)


# ORDER BY for each sort the filters accept (cases.filters.SORT_CHOICES), `id` breaking ties as in case_list_for.
_ORDER_BY = {
    "-score": "score DESC, id ASC",
    "score": "score ASC, id ASC",
    "auction_date": "auction_date ASC NULLS LAST, id ASC",
    "-auction_date": "auction_date DESC NULLS LAST, id ASC",
    "-filing_date": "filing_date DESC, id ASC",
}


def case_list_rows(*, user: User, filters: CaseFilters, offset: int, limit: int) -> list[dict[str, Any]]:
    """One page of case_list_for as `.values(*LIST_FIELDS)` rows.

    On PostgreSQL the same query is written out here and run as a prepared statement: building and compiling it
    through the ORM cost more CPU than PostgreSQL spends finding the page (a test holds both to the same rows for
    every filter). Elsewhere, the ORM query."""
    if connection.vendor != "postgresql":
        return list(case_list_for(user=user, filters=filters).values(*LIST_FIELDS)[offset : offset + limit])
    where: list[str] = []
    params: list[Any] = []
    for clause, value in (
        ("state = %s", filters.state or None),
        ("UPPER(county::text) = UPPER(%s)", filters.county or None),
        ("stage = %s", filters.stage or None),
        ("score >= %s", filters.score_min),
        ("score <= %s", filters.score_max),
        ("auction_date >= %s", filters.auction_from),
        ("auction_date <= %s", filters.auction_to),
    ):
        if value is not None:
            where.append(clause)
            params.append(value)
    if filters.claimed == "claimable":  # Case.claimable_now_q(), written out
        stages = sorted(UNCLAIMABLE_STAGES)
        where.append(f"assigned_to_id IS NULL AND status = %s AND stage NOT IN ({', '.join(['%s'] * len(stages))})")
        params.extend([Case.Status.OPEN, *stages])
    elif filters.claimed == "unclaimed":
        where.append("assigned_to_id IS NULL")
    elif filters.claimed == "claimed":
        where.append("assigned_to_id IS NOT NULL")
    elif filters.claimed == "mine":
        where.append(f"assigned_to_id = %s AND id IN ({_ACTIVE_CLAIM_CASES_SQL})")
        params.extend([user.pk, user.pk])
    sql = (
        f"SELECT {', '.join(LIST_FIELDS)} FROM cases_case"  # noqa: S608 - constant columns, clauses from this list
        f"{' WHERE ' + ' AND '.join(where) if where else ''}"
        f" ORDER BY {_ORDER_BY[filters.sort or '-score']} LIMIT %s OFFSET %s"
    )
    return [dict(zip(LIST_FIELDS, row, strict=True)) for row in fetchall_prepared(sql, [*params, limit, offset])]


class CaseListPages:
    """Slices of the case list for a paginator (`pages[offset:stop]`), one statement per slice; `count()` for one
    that shows totals (Django's Paginator)."""

    def __init__(self, *, user: User, filters: CaseFilters) -> None:
        self.user = user
        self.filters = filters

    def count(self) -> int:
        return case_list_for(user=self.user, filters=self.filters).count()

    def __getitem__(self, window: slice) -> list[dict[str, Any]]:
        start = window.start or 0
        return case_list_rows(user=self.user, filters=self.filters, offset=start, limit=window.stop - start)
