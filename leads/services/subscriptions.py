"""PLZ subscriptions: requests, manual grants, ends and expiry; Stripe-paid ones kept in step with Stripe."""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import terms_require_current
from billing import stripe_gateway
from billing.stripe_sync import MAX_CONSECUTIVE_UNAVAILABLE
from jsn.lib.control_room import plain_id
from leads import selectors
from leads.models import (
    PLZ_VALIDATOR,
    LeadEvent,
    PlzCheckout,
    PlzSubscription,
)
from leads.services.common import ERR_CHECKOUT_RETIRED, ERR_NOT_WITHDRAWABLE, ERR_NOTHING_TO_PAY, LeadError

logger = logging.getLogger(__name__)


def _open_subscription(*, user: User, plz: str) -> PlzSubscription | None:
    return (
        PlzSubscription.objects.select_for_update()
        .filter(user=user, plz=plz)
        .exclude(status=PlzSubscription.Status.CANCELED)
        .first()
    )


def subscription_request(*, user: User, plz: str) -> PlzSubscription:
    """An agent asks for a PLZ. It waits for payment (Stripe Checkout, or staff grant it by hand)."""
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
    *, actor: User | None, subscription: PlzSubscription, now: datetime | None = None, detail: dict | None = None
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
                detail={"previous_status": previous, **(detail or {})},
            )
    return sub


@dataclass(frozen=True)
class Withdrawal:
    subscription: PlzSubscription
    paid_first: bool  # a Checkout for it had been paid just before: its webhook makes the PLZ active after all


def subscription_withdraw(*, user: User, subscription_id: int, now: datetime | None = None) -> Withdrawal:
    """The agent takes back a PLZ request nobody has paid for yet (PlzSubscription.withdrawable).

    Raises LeadError(ERR_NOT_WITHDRAWABLE) for anything else, including another agent's subscription: paid PLZs end
    in Stripe's Billing Portal (and reach us as webhooks), granted ones through staff. The open Checkouts that would
    still charge for it are retired and closed at Stripe, so a tab left on Stripe's page cannot take the money.
    """
    with transaction.atomic():
        # The user row first, as plz_checkout_start and the Stripe sync take it: a "Pay" click in between either
        # saw the request still pending (and its Checkout is retired here) or sees it withdrawn.
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
        sub = PlzSubscription.objects.select_for_update().filter(pk=subscription_id, user=user).first()
        if sub is None or not sub.withdrawable:
            raise LeadError(ERR_NOT_WITHDRAWABLE)
        sub = subscription_end(actor=user, subscription=sub, now=now, detail={"withdrawn_by_agent": True})
        sessions = _checkouts_retire(user=user, plz=sub.plz)
    paid_first = _checkout_sessions_expire(sessions, why=f"PLZ {sub.plz} withdrawn")
    return Withdrawal(subscription=sub, paid_first=paid_first)


def _checkouts_retire(*, user: User, plz: str) -> list[str]:
    """The user's open Checkouts that would still charge for this PLZ: not offered again, their sessions to close."""
    retired = [
        checkout
        for checkout in PlzCheckout.objects.select_for_update().filter(user=user, status=PlzCheckout.Status.OPEN)
        if plz in checkout.plzs.split(",")
    ]
    PlzCheckout.objects.filter(pk__in=[c.pk for c in retired]).update(
        status=PlzCheckout.Status.SUPERSEDED, updated_at=timezone.now()
    )
    return [c.stripe_session_id for c in retired if c.stripe_session_id]


def _checkout_sessions_expire(session_ids: list[str], *, why: str) -> bool:
    """Close them at Stripe. Returns whether one had been paid first. Best effort: when Stripe does not answer, the
    session runs out by itself (24 h) and paying it still makes an active subscription
    (plz_subscription_sync_from_stripe): whoever pays gets what they paid for."""
    paid_first = False
    for session_id in session_ids:
        try:
            status = stripe_gateway.checkout_session_expire(session_id=session_id)
        except stripe_gateway.StripeGatewayError:
            logger.warning("Could not expire Checkout session %s (%s)", session_id, why)
            continue
        if status == "complete":
            paid_first = True
            logger.info("Checkout session %s was paid first (%s); its webhook makes it active", session_id, why)
    return paid_first


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


# --- Stripe ------------------------------------------------------------------------------------------------------
DUPLICATE_TODO_CANCELED = "Canceled at Stripe automatically. Refund what it charged (its first invoice) in Stripe."
DUPLICATE_TODO_PARTIAL = (
    "It also pays for PLZs the user had no subscription for, so it was kept. In Stripe, remove the double-paid "
    "PLZs from it (lower the quantity) and refund the difference."
)
# A second click on "Pay with Stripe" for the same PLZs within this time gets the same Checkout session back.
CHECKOUT_REUSE = timedelta(minutes=30)
# Stripe's subscription status → ours. Anything else (e.g. paused) receives no leads until Stripe says otherwise.
STRIPE_STATUS = {
    "active": PlzSubscription.Status.ACTIVE,
    "trialing": PlzSubscription.Status.ACTIVE,
    "past_due": PlzSubscription.Status.PAST_DUE,
    "unpaid": PlzSubscription.Status.UNPAID,
    "canceled": PlzSubscription.Status.CANCELED,
    "incomplete_expired": PlzSubscription.Status.CANCELED,
    "incomplete": PlzSubscription.Status.PENDING,
}


def _stripe_plzs(metadata: dict[str, str]) -> list[str]:
    found = []
    for raw in (metadata.get(stripe_gateway.METADATA_PLZS) or "").split(","):
        plz = raw.strip()
        try:
            PLZ_VALIDATOR(plz)
        except ValidationError:
            if plz:
                logger.warning("Ignoring %r in a Stripe subscription's PLZ metadata", plz[:20])
            continue
        found.append(plz)
    return sorted(set(found))


def _stripe_user(state: stripe_gateway.StripeSubscriptionState) -> User | None:
    """The subscriber: metadata["jsn_user_id"] (set by our Checkout), else the mirrored customer's subscriber."""
    user_id = state.metadata.get(stripe_gateway.METADATA_USER_ID, "")
    pk = plain_id(user_id)
    user = User.objects.filter(pk=pk).first() if pk is not None else None
    if user is None and state.customer_id:
        user = User.objects.filter(djstripe_customers__id=state.customer_id).first()
    return user


@dataclass(frozen=True)
class _HeldBy:
    """The PLZ is already paid by another active Stripe subscription of the same user."""

    stripe_subscription_id: str


def _sync_one(
    *, user: User, plz: str, state: stripe_gateway.StripeSubscriptionState, now: datetime
) -> PlzSubscription | _HeldBy | None:
    """Bring the row of (this Stripe subscription, plz) to Stripe's state. Caller holds a transaction."""
    target = STRIPE_STATUS.get(state.status, PlzSubscription.Status.PENDING)
    sub = PlzSubscription.objects.select_for_update().filter(stripe_subscription_id=state.id, plz=plz).first()
    previous = None
    if sub is None:
        if target == PlzSubscription.Status.CANCELED:
            return None  # never started here: an open request stays open for another attempt
        sub = _open_subscription(user=user, plz=plz)
        if sub is not None and sub.stripe_subscription_id and sub.status == PlzSubscription.Status.ACTIVE:
            # Already paid by another Stripe subscription: that one stays in charge (see _duplicate_handle).
            return _HeldBy(sub.stripe_subscription_id)
        if sub is None:
            sub = PlzSubscription(user=user, plz=plz)
        else:
            previous = {
                "status": sub.status,
                "source": sub.source,
                "stripe_subscription_id": sub.stripe_subscription_id,
            }
    elif sub.status == PlzSubscription.Status.CANCELED:
        return sub  # Stripe's canceled is final; a late event about it changes nothing
    else:
        previous = {"status": sub.status, "source": sub.source, "stripe_subscription_id": sub.stripe_subscription_id}
    unchanged = (
        sub.pk is not None
        and sub.status == target
        and sub.source == PlzSubscription.Source.STRIPE
        and sub.stripe_subscription_id == state.id
        and sub.current_period_end == state.current_period_end
    )
    if unchanged:
        return sub
    old_end = sub.current_period_end
    sub.status = target
    sub.source = PlzSubscription.Source.STRIPE
    sub.stripe_subscription_id = state.id
    sub.current_period_end = state.current_period_end
    sub.save()
    LeadEvent.objects.create(
        action=LeadEvent.Action.SUBSCRIPTION_STRIPE_SYNCED,
        subscription=sub,
        created_at=now,
        detail={
            "plz": plz,
            "user": user.pk,
            "stripe_subscription_id": state.id,
            "stripe_status": state.status,
            "status": target,
            "previous": previous,
            "previous_period_end": old_end.isoformat() if old_end else None,
            "period_end": state.current_period_end.isoformat() if state.current_period_end else None,
        },
    )
    return sub


def plz_subscription_sync_from_stripe(*, stripe_subscription_id: str, now: datetime | None = None) -> int:
    """Re-read one Stripe subscription and bring its PLZ subscriptions in step. Returns how many rows it covers.

    Called by the `customer.subscription.*` webhooks and the daily re-check. Idempotent: the same state twice
    changes nothing and writes no second audit row; a PLZ's row is found by (Stripe subscription, PLZ), else
    the user's open request for that PLZ is taken over, else one is created. Raises the gateway's errors (a
    webhook then answers 500 and Stripe delivers again).
    """
    now = now or timezone.now()
    state = stripe_gateway.subscription_retrieve(stripe_subscription_id=stripe_subscription_id)
    plzs = _stripe_plzs(state.metadata)
    if not plzs:
        return 0  # not a PLZ subscription
    user = _stripe_user(state)
    if user is None:
        logger.error("Stripe subscription %s names no known user; PLZs %s not synced", state.id, plzs)
        return 0
    synced = 0
    held: dict[str, str] = {}
    with transaction.atomic():
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)  # serialise with other syncs
        for plz in plzs:
            result = _sync_one(user=user, plz=plz, state=state, now=now)
            if isinstance(result, _HeldBy):
                held[plz] = result.stripe_subscription_id
            elif result is not None:
                synced += 1
        if held:
            _duplicate_handle(user=user, state=state, plzs=plzs, held=held, now=now)
    return synced


def _duplicate_handle(
    *, user: User, state: stripe_gateway.StripeSubscriptionState, plzs: list[str], held: dict[str, str], now: datetime
) -> None:
    """A second live Stripe subscription for PLZs the user already pays for (two Checkouts completed).

    When every PLZ of it is paid by another subscription it only charges twice for the same leads: cancel it at
    Stripe now, so no renewal follows. When only some are, it also pays for new PLZs, so it stays and staff
    adjust it. Either way staff see one "Duplicate Stripe subscription" event per Stripe subscription, to refund
    what it charged. Runs inside the webhook's transaction: a Stripe failure raises, the webhook answers 500 and
    Stripe delivers again (cancelling is idempotent).
    """
    cancel = set(held) == set(plzs)
    if cancel:
        stripe_gateway.subscription_cancel(stripe_subscription_id=state.id)
    if LeadEvent.objects.filter(
        action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE, detail__stripe_subscription_id=state.id
    ).exists():
        return
    LeadEvent.objects.create(
        action=LeadEvent.Action.SUBSCRIPTION_DUPLICATE,
        created_at=now,
        detail={
            "stripe_subscription_id": state.id,
            "user": user.pk,
            "plzs": plzs,
            "already_paid_by": held,
            "stripe_status": state.status,
            "canceled_at_stripe": cancel,
            "todo": DUPLICATE_TODO_CANCELED if cancel else DUPLICATE_TODO_PARTIAL,
        },
    )
    logger.error(
        "User %s has a second Stripe subscription %s for PLZs %s (already paid by %s); %s",
        user.pk,
        state.id,
        sorted(held),
        sorted(set(held.values())),
        "canceled it at Stripe" if cancel else "left it for staff",
    )


def plz_subscriptions_recheck_stripe(*, now: datetime | None = None) -> dict[str, int]:
    """Daily: re-read every open Stripe-sourced subscription from Stripe, one call per Stripe subscription.

    A failure is logged and counted and the rest go on, unless Stripe does not answer MAX_CONSECUTIVE_UNAVAILABLE
    times in a row: then the run stops (each silent call waits STRIPE_CALL_MAX_SECONDS) and the rest are counted as
    not checked, for the next run."""
    if not stripe_gateway.is_enabled():
        return {"checked": 0, "failed": 0, "not_checked": 0}
    ids = (
        PlzSubscription.objects.filter(source=PlzSubscription.Source.STRIPE, stripe_subscription_id__isnull=False)
        .exclude(status=PlzSubscription.Status.CANCELED)
        .order_by("stripe_subscription_id")
        .values_list("stripe_subscription_id", flat=True)
        .distinct()
    )
    todo = list(ids)
    checked = failed = unavailable_in_a_row = 0
    for n, stripe_subscription_id in enumerate(todo):
        if unavailable_in_a_row >= MAX_CONSECUTIVE_UNAVAILABLE:
            logger.warning(
                "Re-check of Stripe subscriptions stopped: Stripe unavailable %s times in a row; %s left for the "
                "next run",
                unavailable_in_a_row,
                len(todo) - n,
            )
            return {"checked": checked, "failed": failed, "not_checked": len(todo) - n}
        try:
            plz_subscription_sync_from_stripe(stripe_subscription_id=stripe_subscription_id, now=now)
            checked += 1
            unavailable_in_a_row = 0
        except stripe_gateway.StripeGatewayError as exc:
            logger.warning("Re-check of Stripe subscription %s failed", stripe_subscription_id, exc_info=True)
            failed += 1
            unavailable_in_a_row = unavailable_in_a_row + 1 if isinstance(exc, stripe_gateway.StripeUnavailable) else 0
    return {"checked": checked, "failed": failed, "not_checked": 0}


def plz_checkout_start(
    *, user: User, plzs: list[str], success_url: str, cancel_url: str, now: datetime | None = None
) -> stripe_gateway.SessionLink:
    """The Stripe Checkout session for these PLZs: a new one, or the open one of a recent identical request.

    Double clicks and reloads must not start two subscriptions: for the same (user, PLZ set) within
    CHECKOUT_REUSE the open PlzCheckout row is reused (a partial unique index allows one), and its session is
    created with the idempotency key `jsn-plzco-<row id>`, so two requests racing on one row get one session.
    A failed Stripe call retires the row (Stripe replays a stored 500 for the same key for 24 hours).
    """
    now = now or timezone.now()
    with transaction.atomic():
        # Serialises this user's clicks and withdrawals; the Stripe call below happens after the commit, unlocked.
        get_user_model().objects.select_for_update().only("pk").get(pk=user.pk)
        # Only what still awaits payment now: a request withdrawn since the page was drawn is not charged for.
        key = ",".join(selectors.plzs_awaiting_payment_for(user=user, plzs=plzs))
        if not key:
            raise LeadError(ERR_NOTHING_TO_PAY)
        checkout = PlzCheckout.objects.filter(user=user, plzs=key, status=PlzCheckout.Status.OPEN).first()
        if checkout is not None and checkout.created_at <= now - CHECKOUT_REUSE:
            checkout.status = PlzCheckout.Status.SUPERSEDED
            checkout.save(update_fields=["status", "updated_at"])
            checkout = None
        if checkout is None:
            checkout = PlzCheckout.objects.create(user=user, plzs=key, created_at=now)
    if checkout.url and checkout.stripe_session_id:
        return stripe_gateway.SessionLink(id=checkout.stripe_session_id, url=checkout.url)
    try:
        link = stripe_gateway.checkout_subscription_session_create(
            user=user,
            plzs=key.split(","),
            success_url=success_url,
            cancel_url=cancel_url,
            checkout_id=checkout.pk,
            idempotency_key=stripe_gateway.idempotency_key("plzco", checkout.pk),
        )
    except (stripe_gateway.StripeGatewayError, ValueError):
        PlzCheckout.objects.filter(pk=checkout.pk, stripe_session_id__isnull=True).update(
            status=PlzCheckout.Status.SUPERSEDED, updated_at=timezone.now()
        )
        raise
    PlzCheckout.objects.filter(pk=checkout.pk, stripe_session_id__isnull=True, status=PlzCheckout.Status.OPEN).update(
        stripe_session_id=link.id, url=link.url, updated_at=timezone.now()
    )
    if PlzCheckout.objects.filter(pk=checkout.pk, status=PlzCheckout.Status.OPEN).exists():
        return link
    # Retired while Stripe was answering (a withdrawal of one of its PLZs, or its session expired): the session
    # (or, for a second click on the same row, Stripe's replay of it) must not be paid.
    _checkout_sessions_expire([link.id], why=f"its Checkout for PLZ {key} was retired meanwhile")
    raise LeadError(ERR_CHECKOUT_RETIRED)


def plz_checkout_expired(*, stripe_session_id: str) -> bool:
    """checkout.session.expired (expired in Stripe's Dashboard, or its 24 hours ran out): never offered again."""
    return bool(
        PlzCheckout.objects.filter(stripe_session_id=stripe_session_id, status=PlzCheckout.Status.OPEN).update(
            status=PlzCheckout.Status.SUPERSEDED, updated_at=timezone.now()
        )
    )


def plz_checkout_completed(*, stripe_session_id: str) -> bool:
    """checkout.session.completed: the session's PlzCheckout is done (it is never offered again)."""
    return bool(
        PlzCheckout.objects.filter(stripe_session_id=stripe_session_id)
        .exclude(status=PlzCheckout.Status.COMPLETED)
        .update(status=PlzCheckout.Status.COMPLETED, updated_at=timezone.now())
    )
