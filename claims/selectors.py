"""Claims reads. A claim's case is presented through the masking policy by the caller."""

from django.db.models import QuerySet

from accounts.models import User
from claims.models import Claim


def claim_list_for(*, user: User, status: str | None = None) -> QuerySet[Claim]:
    """The user's own claims, newest first, each with its case in the same query."""
    qs = Claim.objects.filter(user=user).select_related("case")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-claimed_at", "-id")


def active_claim_count(*, user: User) -> int:
    return Claim.objects.filter(user=user, status=Claim.Status.ACTIVE).count()
