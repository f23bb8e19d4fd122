"""PLZ subscriptions: requests, manual grants, ends and expiry. Stripe will drive `status` later."""

import logging
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import terms_require_current
from leads.models import (
    PLZ_VALIDATOR,
    LeadEvent,
    PlzSubscription,
)

logger = logging.getLogger(__name__)


def _open_subscription(*, user: User, plz: str) -> PlzSubscription | None:
    return (
        PlzSubscription.objects.select_for_update()
        .filter(user=user, plz=plz)
        .exclude(status=PlzSubscription.Status.CANCELED)
        .first()
    )


def subscription_request(*, user: User, plz: str) -> PlzSubscription:
    """An agent asks for a PLZ. It waits for payment (Stripe Checkout comes with the Stripe issue)."""
    plz = (plz or "").strip()
    PLZ_VALIDATOR(plz)
    terms_require_current(user=user)  # raises TermsNotAccepted
    with transaction.atomic():
        existing = _open_subscription(user=user, plz=plz)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                sub = PlzSubscription.objects.create(
                    user=user, plz=plz, status=PlzSubscription.Status.PENDING, source=PlzSubscription.Source.STRIPE
                )
        except IntegrityError:  # the same request twice at once
            return PlzSubscription.objects.exclude(status=PlzSubscription.Status.CANCELED).get(user=user, plz=plz)
        LeadEvent.objects.create(action=LeadEvent.Action.SUBSCRIPTION_REQUESTED, actor=user, subscription=sub)
    return sub


def subscription_grant(
    *, actor: User, user: User, plz: str, period_end: datetime | None = None, now: datetime | None = None
) -> PlzSubscription:
    """Staff grant a PLZ by hand: the open subscription (e.g. one awaiting payment) becomes active and manual."""
    now = now or timezone.now()
    plz = (plz or "").strip()
    PLZ_VALIDATOR(plz)
    with transaction.atomic():
        sub = _open_subscription(user=user, plz=plz)
        if sub is None:
            sub = PlzSubscription(user=user, plz=plz)
        sub.status = PlzSubscription.Status.ACTIVE
        sub.source = PlzSubscription.Source.MANUAL
        sub.current_period_end = period_end
        sub.save()
        LeadEvent.objects.create(
            action=LeadEvent.Action.SUBSCRIPTION_GRANTED,
            actor=actor,
            subscription=sub,
            created_at=now,
            detail={"plz": plz, "user": user.pk, "period_end": period_end.isoformat() if period_end else None},
        )
    return sub


def subscription_end(
    *, actor: User | None, subscription: PlzSubscription, now: datetime | None = None
) -> PlzSubscription:
    """End a subscription now. Planned deliveries to it are skipped at send time."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = PlzSubscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status != PlzSubscription.Status.CANCELED:
            previous = sub.status
            sub.status = PlzSubscription.Status.CANCELED
            sub.save(update_fields=["status", "updated_at"])
            LeadEvent.objects.create(
                action=LeadEvent.Action.SUBSCRIPTION_ENDED,
                actor=actor,
                subscription=sub,
                created_at=now,
                detail={"previous_status": previous},
            )
    return sub


def subscriptions_expire(*, now: datetime | None = None) -> int:
    """Cancel manual grants whose period has ended. Stripe-driven ones are kept in step by Stripe (later issue)."""
    now = now or timezone.now()
    expired = 0
    due = PlzSubscription.objects.filter(source=PlzSubscription.Source.MANUAL, current_period_end__lte=now).exclude(
        status=PlzSubscription.Status.CANCELED
    )
    for sub_id in due.values_list("id", flat=True):
        with transaction.atomic():
            # Compare-and-set: a concurrent run or a staff edit in between wins, and this one counts nothing.
            changed = (
                PlzSubscription.objects.filter(pk=sub_id, current_period_end__lte=now)
                .exclude(status=PlzSubscription.Status.CANCELED)
                .update(status=PlzSubscription.Status.CANCELED, updated_at=now)
            )
            if changed:
                LeadEvent.objects.create(
                    action=LeadEvent.Action.SUBSCRIPTION_EXPIRED, subscription_id=sub_id, created_at=now
                )
                expired += 1
    return expired
