"""Claims reads. A claim's case is presented through the masking policy by the caller."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from billing import ledger
from claims.models import Claim, ClaimEvent


def claim_list_for(*, user: User, status: str | None = None) -> QuerySet[Claim]:
    """The user's own claims, newest first, each with its case in the same query."""
    qs = Claim.objects.filter(user=user).select_related("case")
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-claimed_at", "-id")


def active_claim_count(*, user: User) -> int:
    return Claim.objects.filter(user=user, status=Claim.Status.ACTIVE).count()


def active_claim_on(*, case_id: int, user_id: int) -> Claim | None:
    """The user's active claim on the case, with what the owner's case page shows of it (one query; a case has at
    most one active claim)."""
    fields = ("daily_price_cents", "currency", "claimed_at", "expires_at")
    return Claim.objects.filter(case_id=case_id, user_id=user_id, status=Claim.Status.ACTIVE).only(*fields).first()


def cases_released_by(*, actor_id: int, case_ids: list[int]) -> set[int]:
    """Which of these cases this user released at some time (one query; none without case ids)."""
    if not case_ids:
        return set()
    events = ClaimEvent.objects.filter(case_id__in=case_ids, actor_id=actor_id, action=ClaimEvent.Action.RELEASED)
    return set(events.values_list("case_id", flat=True))


def _day_start(day: date) -> datetime:
    # Claim dates are billing days (BILLING_TIME_ZONE), like invoices.
    return ledger.day_start(day, ZoneInfo(settings.BILLING_TIME_ZONE))


def claim_list_staff(
    *,
    status: str = "",
    user_id: int | None = None,
    email: str = "",
    case_id: int | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Claim]:
    """Every user's claims for the back office, filtered, newest first, each with its user and case (one query).

    Dates are billing days (BILLING_TIME_ZONE) of `claimed_at`, turned into a time range so the index is used."""
    qs = Claim.objects.select_related("user", "case")
    if status:
        qs = qs.filter(status=status)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    if email:
        qs = qs.filter(user__email=email.lower())  # e-mails are stored lower-case (User.save)
    if case_id is not None:
        qs = qs.filter(case_id=case_id)
    if date_from:
        qs = qs.filter(claimed_at__gte=_day_start(date_from))
    if date_to and date_to < date.max:  # up to date.max is no bound at all (and date.max + 1 day overflows)
        qs = qs.filter(claimed_at__lt=_day_start(date_to + timedelta(days=1)))
    return qs.order_by("-claimed_at", "-id")
