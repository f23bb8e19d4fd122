"""Reads that decide what a user may see of cases."""

from django.db.models import Prefetch, QuerySet

from accounts.models import User
from cases.filters import CaseFilters
from cases.models import Case, Contact, Document

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
    if filters.claimed == "unclaimed":
        qs = qs.filter(assigned_to__isnull=True)
    elif filters.claimed == "claimed":
        qs = qs.filter(assigned_to__isnull=False)
    elif filters.claimed == "mine":
        qs = qs.filter(assigned_to=user)
    return qs.order_by(filters.sort or "-score", "id")


def case_detail_for(*, user: User, case_id: int) -> Case:
    """One case with its contacts and documents prefetched. Raises Case.DoesNotExist."""
    return Case.objects.prefetch_related(
        Prefetch("contacts", queryset=Contact.objects.order_by("id")),
        Prefetch("documents", queryset=Document.objects.order_by("id")),
    ).get(pk=case_id)
