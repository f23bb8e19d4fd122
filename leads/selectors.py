"""Lead reads that decide visibility: an agent sees only their own subscriptions and deliveries."""

from datetime import datetime, timedelta

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from leads.models import Delivery, Lead, LeadEvent, PlzSubscription, awaiting_payment_q, eligible_subscriptions_q

DUPLICATES_SHOWN_FOR = timedelta(days=30)

# Sent to the agent, whatever the provider reported since: a bounced lead stays on their page to download.
RECEIVED = (Delivery.Status.SENT, Delivery.Status.DELIVERED, Delivery.Status.OPENED, Delivery.Status.BOUNCED)
WAITING = (Delivery.Status.PLANNED, Delivery.Status.QUEUED, Delivery.Status.SENDING)


def subscriptions_for(*, user: User) -> QuerySet[PlzSubscription]:
    return PlzSubscription.objects.filter(user=user).order_by("plz", "-created_at")


def subscriptions_current_for(*, user: User) -> QuerySet[PlzSubscription]:
    """Not ended: what gets the agent leads, or will once paid."""
    return subscriptions_for(user=user).exclude(status=PlzSubscription.Status.CANCELED)


def plzs_awaiting_payment_for(*, user: User, plzs: list[str] | None = None) -> list[str]:
    """The user's PLZs (of `plzs`, when given) that wait for payment through Stripe, sorted."""
    rows = PlzSubscription.objects.filter(awaiting_payment_q(), user=user)
    if plzs is not None:
        rows = rows.filter(plz__in=plzs)
    return sorted(set(rows.values_list("plz", flat=True)))


ENDING_ACTIONS = (
    LeadEvent.Action.SUBSCRIPTION_ENDED,
    LeadEvent.Action.SUBSCRIPTION_EXPIRED,
    LeadEvent.Action.SUBSCRIPTION_STRIPE_SYNCED,  # canceled at Stripe: final, so the last sync of a canceled row
)


def subscriptions_ended_for(*, user: User) -> QuerySet[PlzSubscription]:
    """The user's canceled subscriptions, newest end first, each with `ended_at`: when the audit log says it ended
    (a later edit of the row does not move it), else the row's last change."""
    ended_at = (
        LeadEvent.objects.filter(subscription=OuterRef("pk"), action__in=ENDING_ACTIONS)
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    return (
        subscriptions_for(user=user)
        .filter(status=PlzSubscription.Status.CANCELED)
        .annotate(ended_at=Coalesce(Subquery(ended_at), F("updated_at")))
        .order_by("-ended_at", "-id")
    )


def deliveries_for(*, user: User) -> QuerySet[Delivery]:
    return Delivery.objects.filter(subscriber=user).select_related("lead").order_by("-due_at", "-id")


def deliveries_received_for(*, user: User) -> QuerySet[Delivery]:
    return deliveries_for(user=user).filter(status__in=RECEIVED).order_by("-sent_at", "-id")


def deliveries_queued_for(*, user: User) -> QuerySet[Delivery]:
    """Leads planned for this agent with the time they are expected (the due time)."""
    return deliveries_for(user=user).filter(status__in=WAITING).order_by("due_at", "id")


def agents_by_plz(*, plzs: list[str], now: datetime | None = None) -> dict[str, int]:
    """How many agents a lead in each of these PLZs would go to now (the distribution's eligibility rule)."""
    now = now or timezone.now()
    return dict(
        PlzSubscription.objects.filter(eligible_subscriptions_q(now), plz__in=plzs, user__is_active=True)
        .values("plz")
        .annotate(n=Count("user", distinct=True))
        .values_list("plz", "n")
    )


def month_ranges(*, now: datetime | None = None) -> tuple[datetime, datetime, datetime]:
    """Start of last month, start of this month, and now, in the current time zone."""
    now = timezone.localtime(now or timezone.now())
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    return last_month, this_month, now


def _lead_counts(*, user: User, plzs: list[str], start: datetime, end: datetime) -> tuple[dict, dict]:
    counts = dict(
        Lead.objects.filter(plz__in=plzs, received_at__gte=start, received_at__lt=end)
        .exclude(status__in=[Lead.Status.QUARANTINED, Lead.Status.REVIEW])
        .values("plz")
        .annotate(n=Count("id"))
        .values_list("plz", "n")
    )
    mine = dict(
        Delivery.objects.filter(
            subscriber=user, status__in=RECEIVED, lead__received_at__gte=start, lead__received_at__lt=end
        )
        .values("lead__plz")
        .annotate(n=Count("id"))
        .values_list("lead__plz", "n")
    )
    return counts, mine


def lead_counts_for(*, user: User, now: datetime | None = None) -> list[dict]:
    """For each PLZ the agent subscribes to (or did, and received leads of in these months): leads in that PLZ this
    month so far and last month, and how many of them reached the agent."""
    last_start, this_start, now = month_ranges(now=now)
    subs = subscriptions_for(user=user)
    plzs = sorted(set(subs.values_list("plz", flat=True)))
    current = set(subscriptions_current_for(user=user).values_list("plz", flat=True))
    this_leads, this_mine = _lead_counts(user=user, plzs=plzs, start=this_start, end=now + timedelta(seconds=1))
    last_leads, last_mine = _lead_counts(user=user, plzs=plzs, start=last_start, end=this_start)
    return [
        {
            "plz": p,
            "leads": this_leads.get(p, 0),
            "received": this_mine.get(p, 0),
            "last_leads": last_leads.get(p, 0),
            "last_received": last_mine.get(p, 0),
        }
        for p in plzs
        # An ended PLZ stays while it brought the agent leads in these months; one that never did is only noise.
        if p in current or this_mine.get(p) or last_mine.get(p)
    ]


def deliveries_ambiguous(*, now: datetime | None = None) -> QuerySet[Delivery]:
    from leads.services import AMBIGUOUS_AFTER

    now = now or timezone.now()
    return Delivery.objects.filter(
        Q(status=Delivery.Status.SENDING) & Q(sending_started_at__lt=now - AMBIGUOUS_AFTER)
    ).select_related("lead", "subscriber")


def subscription_duplicates_recent(*, now: datetime | None = None) -> QuerySet[LeadEvent]:
    """Second Stripe subscriptions for already-paid PLZs in the last 30 days: staff refund (and maybe adjust) them."""
    now = now or timezone.now()
    return LeadEvent.objects.filter(
        action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE, created_at__gte=now - DUPLICATES_SHOWN_FOR
    )
