"""Our reactions to Stripe webhooks, on top of dj-stripe's own (which mirror the object first).

dj-stripe verifies the signature, stores the event id and runs these receivers inside one transaction: a receiver
that raises rolls everything back and the view answers 500, so Stripe delivers again; a duplicate event id is
answered 200 without running them. Receivers therefore keep every effect in that transaction or make it
idempotent at Stripe (the gateway's deterministic keys), re-read state by id, and never move a status backwards.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Customer

from billing import stripe_gateway

logger = logging.getLogger(__name__)

INVOICE_EVENTS = (
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.voided",
    "invoice.marked_uncollectible",
)
SUBSCRIPTION_EVENTS = (
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
)


def _optional(module: str, name: str) -> Any:
    """A seam another part of JSN fills in later: the function if it exists yet, else None."""
    try:
        return getattr(importlib.import_module(module), name, None)
    except ImportError:
        return None


@djstripe_receiver("checkout.session.completed")
def checkout_session_completed(sender: Any, event: Any, **kwargs: Any) -> None:
    session = event.data["object"]
    if session.get("mode") == "setup":
        # Re-read from Stripe inside the gateway: the event body is only a hint.
        stripe_gateway.checkout_setup_session_fulfil(session_id=session["id"])
    elif session.get("mode") == "subscription" and session.get("subscription"):
        # Normally the customer.subscription.* events below do it; syncing here too covers any arrival order.
        _sync_plz_subscription(session["subscription"])
        completed = _optional("leads.services", "plz_checkout_completed")
        if completed is not None:
            completed(stripe_session_id=session["id"])  # a later "Pay" click never offers this session again


@djstripe_receiver("checkout.session.expired")
def checkout_session_expired(sender: Any, event: Any, **kwargs: Any) -> None:
    """Expired (its 24 hours, the Dashboard, or a withdrawal): a later "Pay" click never offers it again."""
    session = event.data["object"]
    if session.get("mode") == "subscription":
        expired = _optional("leads.services", "plz_checkout_expired")
        if expired is not None:
            expired(stripe_session_id=session["id"])


@djstripe_receiver("payment_method.attached")
def payment_method_attached(sender: Any, event: Any, **kwargs: Any) -> None:
    """A card added anywhere (e.g. the Billing Portal) becomes the default when the customer has none."""
    payment_method = event.data["object"]
    customer_id = payment_method.get("customer")
    if not customer_id:
        return
    customer = Customer.objects.filter(id=customer_id).first()
    if customer is None or customer.subscriber_id is None:
        return  # not one of our subscribers
    if customer.default_payment_method_id is None:
        stripe_gateway.customer_default_payment_method_set(
            customer_id=customer_id, payment_method_id=payment_method["id"]
        )


@djstripe_receiver(list(INVOICE_EVENTS))
def invoice_status_changed(sender: Any, event: Any, **kwargs: Any) -> None:
    """Move our invoice to Stripe's status (never backwards). dj-stripe has already mirrored the invoice.

    TODO(billing ledger): implement `billing.services.invoice_stripe_status_apply(*, stripe_invoice_id: str,
    stripe_status: str, event_type: str, attempt_count: int) -> bool` — look the Invoice up by
    stripe_invoice_id (lock it), map the status (invoice.payment_failed → FAILED while Stripe says open), refuse
    to move backwards (paid/void/uncollectible are final), write the InvoiceEvent audit row, and queue the
    "payment failed" e-mail with the portal link via transaction.on_commit. Until it exists this is a no-op.
    """
    apply = _optional("billing.services", "invoice_stripe_status_apply")
    invoice_model = _optional("billing.models", "Invoice")
    if apply is None or invoice_model is None or not hasattr(invoice_model, "stripe_invoice_id"):
        logger.info("Stripe %s for %s: billing ledger not wired yet", event.type, event.data["object"].get("id"))
        return
    # Re-read by id: events arrive in any order, so the status in the body may already be stale.
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=event.data["object"]["id"])
    apply(
        stripe_invoice_id=state.id,
        stripe_status=state.status,
        event_type=event.type,
        attempt_count=state.attempt_count,
    )


@djstripe_receiver(list(SUBSCRIPTION_EVENTS))
def subscription_changed(sender: Any, event: Any, **kwargs: Any) -> None:
    """PLZ subscriptions: `leads.services.plz_subscription_sync_from_stripe` re-reads the subscription from
    Stripe and brings the PLZ rows named in its metadata ("jsn_plzs") to Stripe's status."""
    _sync_plz_subscription(event.data["object"]["id"])


def _sync_plz_subscription(stripe_subscription_id: Any) -> None:
    if not isinstance(stripe_subscription_id, str):
        stripe_subscription_id = stripe_subscription_id["id"]  # an expanded object
    sync = _optional("leads.services", "plz_subscription_sync_from_stripe")
    if sync is None:
        return
    sync(stripe_subscription_id=stripe_subscription_id)
