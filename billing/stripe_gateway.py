"""The one seam between JSN and Stripe: the only module that imports `stripe`.

Every call turns Stripe's exceptions into ours (`StripeUnavailable`, `PaymentDeclined`, …), every write carries an
idempotency key derived from our own rows, and customers and payment methods are mirrored into dj-stripe's tables.
The daily-invoice steps take plain values (ids, cents, datetimes) so the billing ledger can store each returned
Stripe id before it calls the next step: a crash anywhere resumes without duplicates (see STRIPE.md).

Without a secret key (`STRIPE_ENABLED` false) every function raises `StripeNotConfigured` before any network
call; callers decide what that means (billing stays local, pages say Stripe is not connected).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import stripe
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from djstripe.models import Customer, PaymentMethod
from djstripe.settings import djstripe_settings

from jsn.lib.busy import busy_as

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

METADATA_INVOICE_ID = "jsn_invoice_id"
METADATA_LINE_ID = "jsn_line_id"
METADATA_USER_ID = "jsn_user_id"
METADATA_PLZS = "jsn_plzs"
METADATA_PURPOSE = "jsn_purpose"
METADATA_CHECKOUT_ID = "jsn_checkout_id"
MAX_INVOICE_ITEMS = 250  # Stripe's limit per invoice
MAX_METADATA_VALUE = 500  # Stripe's limit per metadata value

ERROR_NOT_CONFIGURED = "Stripe is not connected (no secret key is set)."
ERROR_NO_PLZ_PRICE = "STRIPE_PLZ_PRICE_ID is not set."
ERROR_NO_PLZS = "Choose at least one PLZ."
ERROR_CUSTOMER_BUSY = "Another request is setting up this account at Stripe; try again in a moment."
CUSTOMER_LOCK_NAMESPACE = 0x4A534E43  # "JSNC": pg_advisory_xact_lock(namespace, user id) while a customer is made


class StripeGatewayError(Exception):
    """Base of every error this module raises."""


class StripeNotConfigured(StripeGatewayError):
    """No usable key or price: nothing was sent to Stripe."""


class StripeUnavailable(StripeGatewayError):
    """Network failure, Stripe 5xx or rate limit. A write may or may not have happened: retry with the same key."""


class StripeRequestRejected(StripeGatewayError):
    """Stripe refused the request (4xx). Retrying the same request will not help."""

    def __init__(self, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


class StripeIdempotencyConflict(StripeRequestRejected):
    """The same idempotency key was used with different parameters: our rows changed after the first call."""


class PaymentDeclined(StripeGatewayError):
    """The charge was declined. An outcome to record (and e-mail about), never a reason to retry in a loop."""

    def __init__(self, message: str, *, code: str | None = None, decline_code: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.decline_code = decline_code


class PaymentMethodMissing(PaymentDeclined):
    """The customer has no default payment method to charge."""


@dataclass(frozen=True)
class SessionLink:
    """A hosted Stripe page to send the subscriber to."""

    id: str
    url: str


@dataclass(frozen=True)
class StripeInvoiceState:
    """What Stripe says about one invoice, in plain values."""

    id: str
    status: str  # draft, open, paid, void, uncollectible
    amount_due: int
    amount_paid: int
    total: int  # the sum of the lines; amount_due also counts the customer's balance
    currency: str
    attempt_count: int
    hosted_invoice_url: str | None
    metadata: dict[str, str]
    # Paid outside Stripe (out of band), in cents. Stripe computes it only when asked for (expand): None otherwise.
    amount_paid_off_stripe: int | None = None

    @classmethod
    def from_stripe(cls, data: Any) -> StripeInvoiceState:
        return cls(
            id=data["id"],
            status=data["status"],
            amount_due=data["amount_due"],
            amount_paid=data["amount_paid"],
            total=data["total"],
            currency=data["currency"],
            attempt_count=data["attempt_count"],
            hosted_invoice_url=data.get("hosted_invoice_url"),
            metadata=dict(data.get("metadata") or {}),
            amount_paid_off_stripe=data.get("amount_paid_off_stripe"),
        )


# --- plumbing --------------------------------------------------------------------------------------------------
def http_client_configure() -> None:
    """The SDK's shared HTTP client, with bounded waits per attempt: every call made through the `stripe` module —
    ours and dj-stripe's resource calls (re-fetches, sync, account refresh) — goes through it.

    STRIPE_CONNECT_TIMEOUT_SECONDS / STRIPE_TIMEOUT_SECONDS instead of the SDK's 80 s; its retries stay as they are;
    its proxy and certificate settings are kept. (dj-stripe's Connect v2 account calls build their own
    StripeClient with the SDK's defaults; JSN has no connected accounts.) Called when the billing app is ready and
    again when a test changes either setting. Sessions are made per thread on first use, so forked workers share none.
    """
    stripe.default_http_client = stripe.RequestsClient(
        timeout=(settings.STRIPE_CONNECT_TIMEOUT_SECONDS, settings.STRIPE_TIMEOUT_SECONDS),
        verify_ssl_certs=stripe.verify_ssl_certs,
        proxy=stripe.proxy,
    )


def is_enabled() -> bool:
    return bool(getattr(settings, "STRIPE_ENABLED", False)) and bool(_api_key())


def _api_key() -> str:
    return djstripe_settings.get_default_api_key(livemode=settings.STRIPE_LIVE_MODE)


def _options() -> dict[str, str]:
    if not is_enabled():
        raise StripeNotConfigured(ERROR_NOT_CONFIGURED)
    return {"api_key": _api_key(), "stripe_version": djstripe_settings.STRIPE_API_VERSION}


@contextmanager
def _translated() -> Iterator[None]:
    """Turn Stripe's exception hierarchy into ours; the original stays attached as __cause__."""
    try:
        yield
    except stripe.CardError as e:
        raise PaymentDeclined(e.user_message or str(e), code=e.code, decline_code=_decline_code(e)) from e
    except stripe.IdempotencyError as e:
        raise StripeIdempotencyConflict(str(e), code="idempotency_error") from e
    except (stripe.AuthenticationError, stripe.PermissionError) as e:
        raise StripeNotConfigured(f"Stripe refused the API key: {e.user_message or e}") from e
    except stripe.InvalidRequestError as e:
        raise StripeRequestRejected(e.user_message or str(e), code=e.code, param=e.param) from e
    except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError) as e:
        raise StripeUnavailable(str(e)) from e
    except stripe.StripeError as e:
        raise StripeUnavailable(str(e)) from e


def _decline_code(error: stripe.CardError) -> str | None:
    body = error.json_body or {}
    return (body.get("error") or {}).get("decline_code")


def idempotency_key(kind: str, *parts: object) -> str:
    """`jsn-<kind>-<part>-…`: the same row always sends the same key, so a retry never writes twice."""
    return "-".join(["jsn", kind, *(str(p) for p in parts)])


def _timestamp(value: datetime) -> int:
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise TypeError("Invoice item periods must be timezone-aware datetimes.")
    return int(value.timestamp())


# --- customers and payment methods ------------------------------------------------------------------------------
def customer_for(*, user: User) -> Customer | None:
    """The mirrored Stripe customer of this user, without calling Stripe."""
    return Customer.objects.filter(subscriber=user, livemode=settings.STRIPE_LIVE_MODE).first()


def customer_ensure(*, user: User) -> Customer:
    """The user's Stripe customer, created once. Safe to call concurrently and after a crash."""
    options = _options()
    customer = customer_for(user=user)
    if customer is not None:
        return customer
    with busy_as(lambda: StripeUnavailable(ERROR_CUSTOMER_BUSY)), transaction.atomic():
        # Serialises two first requests of the same user; the idempotency key covers a crash after Stripe answered.
        _customer_creation_lock(user_id=user.pk)
        return _customer_create_locked(user=user, options=options)


def _customer_creation_lock(*, user_id: int) -> None:
    """This transaction's lock on creating the user's Stripe customer. Not the user row: the user's claims lock that
    row, and they must not wait for Stripe. PostgreSQL: an advisory lock; elsewhere the user row (SQLite runs one
    writer at a time anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s::int)", [CUSTOMER_LOCK_NAMESPACE, user_id])
    else:
        get_user_model().objects.select_for_update().only("pk").get(pk=user_id)


def _customer_create_locked(*, user: User, options: dict[str, str]) -> Customer:
    customer = customer_for(user=user)  # made by the request we waited for
    if customer is not None:
        return customer
    # date_joined in the key: a rebuilt database reusing pk 1 within Stripe's 24 h window gets a new customer.
    key = idempotency_key("cus", user.pk, int(user.date_joined.timestamp()))
    with _translated():
        data = stripe.Customer.create(
            email=user.email,
            name=user.get_full_name() or None,
            metadata={djstripe_settings.SUBSCRIBER_CUSTOMER_KEY: str(user.pk), METADATA_USER_ID: str(user.pk)},
            idempotency_key=key,
            **options,
        )
        return Customer.sync_from_stripe_data(data, api_key=options["api_key"])


def customer_has_payment_method(*, user: User) -> bool:
    """Whether the user's mirrored customer has a default payment method. Local read: no Stripe call."""
    return Customer.objects.filter(
        subscriber=user, livemode=settings.STRIPE_LIVE_MODE, default_payment_method__isnull=False
    ).exists()


def customer_default_payment_method_set(*, customer_id: str, payment_method_id: str) -> Customer:
    """Make this attached payment method the one invoices charge, and mirror the customer."""
    options = _options()
    with _translated():
        payment_method = stripe.PaymentMethod.retrieve(payment_method_id, **options)
        PaymentMethod.sync_from_stripe_data(payment_method, api_key=options["api_key"])
        data = stripe.Customer.modify(
            customer_id,
            invoice_settings={"default_payment_method": payment_method_id},
            idempotency_key=idempotency_key("dpm", customer_id, payment_method_id),
            **options,
        )
        return Customer.sync_from_stripe_data(data, api_key=options["api_key"])


def customer_sync(*, customer_id: str) -> Customer:
    """Re-read one customer from Stripe into the mirror."""
    options = _options()
    with _translated():
        data = stripe.Customer.retrieve(customer_id, **options)
        return Customer.sync_from_stripe_data(data, api_key=options["api_key"])


# --- Checkout and the Billing Portal ----------------------------------------------------------------------------
def checkout_setup_session_create(*, user: User, success_url: str, cancel_url: str) -> SessionLink:
    """Stripe Checkout in setup mode: the subscriber saves a card; the webhook makes it the default."""
    options = _options()
    customer = customer_ensure(user=user)
    with _translated():
        session = stripe.checkout.Session.create(
            mode="setup",
            customer=customer.id,
            currency=settings.DEFAULT_CURRENCY,
            payment_method_types=["card"],
            success_url=success_url,
            cancel_url=cancel_url,
            client_reference_id=str(user.pk),
            metadata={METADATA_USER_ID: str(user.pk), METADATA_PURPOSE: "payment_method"},
            **options,
        )
    return SessionLink(id=session["id"], url=session["url"])


def checkout_subscription_session_create(
    *,
    user: User,
    plzs: list[str],
    success_url: str,
    cancel_url: str,
    checkout_id: int | None = None,
    idempotency_key: str | None = None,
) -> SessionLink:
    """Stripe Checkout in subscription mode for PLZ leads; the PLZs travel in the subscription's metadata.

    `checkout_id` (our PlzCheckout row) goes into the metadata; `idempotency_key` makes a repeated request for the
    same row return the same session instead of a second one.
    """
    options = _options()
    price = settings.STRIPE_PLZ_PRICE_ID
    if not price:
        raise StripeNotConfigured(ERROR_NO_PLZ_PRICE)
    plzs = sorted(set(plzs))
    if not plzs:
        raise ValueError(ERROR_NO_PLZS)
    plz_value = ",".join(plzs)
    if len(plz_value) > MAX_METADATA_VALUE:
        raise ValueError(f"Too many PLZs for one subscription ({len(plzs)}).")
    metadata = {METADATA_USER_ID: str(user.pk), METADATA_PLZS: plz_value, METADATA_PURPOSE: "plz_subscription"}
    if checkout_id is not None:
        metadata[METADATA_CHECKOUT_ID] = str(checkout_id)
    customer = customer_ensure(user=user)
    if idempotency_key:
        options = {**options, "idempotency_key": idempotency_key}
    with _translated():
        session = stripe.checkout.Session.create(
            mode="subscription",
            customer=customer.id,
            line_items=[{"price": price, "quantity": len(plzs)}],
            subscription_data={"metadata": metadata},
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
            client_reference_id=str(user.pk),
            **options,
        )
    return SessionLink(id=session["id"], url=session["url"])


def checkout_session_expire(*, session_id: str) -> str:
    """Close a Checkout session nobody should pay any more. Returns its status after: "expired", or "complete" when
    it was paid first. Stripe refuses to expire a session that is no longer open (400); that is not an error here:
    the session is read back for its status."""
    options = _options()
    try:
        with _translated():
            return stripe.checkout.Session.expire(session_id, **options).get("status") or ""
    except StripeRequestRejected:
        with _translated():
            return stripe.checkout.Session.retrieve(session_id, **options).get("status") or ""


def checkout_setup_session_fulfil(*, session_id: str) -> Customer | None:
    """A completed setup-mode Checkout: re-read it from Stripe and make its card the customer's default.

    Returns None when there is nothing to do (not setup mode, not complete, no customer).
    """
    options = _options()
    with _translated():
        session = stripe.checkout.Session.retrieve(session_id, expand=["setup_intent"], **options)
    if session["mode"] != "setup" or session["status"] != "complete" or not session.get("customer"):
        return None
    intent = session["setup_intent"]
    payment_method_id = intent["payment_method"] if intent else None
    if not payment_method_id:
        return None
    customer_id = session["customer"]
    current = Customer.objects.filter(id=customer_id).values_list("default_payment_method__id", flat=True).first()
    if current == payment_method_id:
        return Customer.objects.get(id=customer_id)  # already applied: a repeated delivery changes nothing
    return customer_default_payment_method_set(customer_id=customer_id, payment_method_id=payment_method_id)


def portal_session_create(*, user: User, return_url: str) -> SessionLink:
    """The Stripe Billing Portal ("Manage billing") for this subscriber."""
    options = _options()
    customer = customer_ensure(user=user)
    with _translated():
        session = stripe.billing_portal.Session.create(customer=customer.id, return_url=return_url, **options)
    return SessionLink(id=session["id"], url=session["url"])


# --- subscriptions (PLZ leads) -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class StripeSubscriptionState:
    """What Stripe says about one subscription, in plain values."""

    id: str
    status: str  # incomplete, incomplete_expired, trialing, active, past_due, canceled, unpaid, paused
    customer_id: str | None
    metadata: dict[str, str]
    current_period_end: datetime | None  # the latest end over its items (dahlia moved periods onto the items)

    @classmethod
    def from_stripe(cls, data: Any) -> StripeSubscriptionState:
        customer = data.get("customer")
        if customer is not None and not isinstance(customer, str):
            customer = customer["id"]
        ends = [item.get("current_period_end") for item in ((data.get("items") or {}).get("data") or [])]
        ends.append(data.get("current_period_end"))
        known = [int(end) for end in ends if end]
        return cls(
            id=data["id"],
            status=data["status"],
            customer_id=customer,
            metadata=dict(data.get("metadata") or {}),
            current_period_end=datetime.fromtimestamp(max(known), tz=UTC) if known else None,
        )


def subscription_retrieve(*, stripe_subscription_id: str) -> StripeSubscriptionState:
    """Re-read one subscription from Stripe: webhook bodies are only hints, events arrive in any order."""
    options = _options()
    with _translated():
        return StripeSubscriptionState.from_stripe(stripe.Subscription.retrieve(stripe_subscription_id, **options))


def subscription_cancel(*, stripe_subscription_id: str) -> StripeSubscriptionState:
    """Cancel a subscription now (account closure). Cancelling one Stripe already ended is not an error."""
    options = _options()
    with _translated():
        current = stripe.Subscription.retrieve(stripe_subscription_id, **options)
        if current.get("status") in ("canceled", "incomplete_expired"):
            return StripeSubscriptionState.from_stripe(current)
        return StripeSubscriptionState.from_stripe(stripe.Subscription.cancel(stripe_subscription_id, **options))


# --- daily invoices ----------------------------------------------------------------------------------------------
def invoice_draft_create(*, customer_id: str, our_invoice_id: int, invoice_date: date, currency: str) -> str:
    """Step 1: an empty draft that only takes items we attach explicitly. Returns the Stripe invoice id."""
    options = _options()
    with _translated():
        data = stripe.Invoice.create(
            customer=customer_id,
            currency=currency.lower(),
            collection_method="charge_automatically",
            auto_advance=False,
            # Items without invoice= stay pending for the PLZ subscription invoices: never sweep them in here.
            pending_invoice_items_behavior="exclude",
            description=f"JSN daily access, {invoice_date.isoformat()}",
            metadata={METADATA_INVOICE_ID: str(our_invoice_id), "jsn_invoice_date": invoice_date.isoformat()},
            idempotency_key=idempotency_key("inv", our_invoice_id),
            **options,
        )
    return data["id"]


def invoice_item_create(
    *,
    customer_id: str,
    stripe_invoice_id: str,
    line_id: int | str,
    amount_cents: int,
    currency: str,
    description: str,
    period_start: datetime,
    period_end: datetime,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Step 2, once per line: an item attached to the draft (`invoice=`), with its period. Returns the item id."""
    options = _options()
    if not isinstance(amount_cents, int):
        raise TypeError("amount_cents must be an int (cents).")
    with _translated():
        data = stripe.InvoiceItem.create(
            customer=customer_id,
            invoice=stripe_invoice_id,
            amount=amount_cents,
            currency=currency.lower(),
            description=description[:500],
            period={"start": _timestamp(period_start), "end": _timestamp(period_end)},
            metadata={**(metadata or {}), METADATA_LINE_ID: str(line_id)},
            idempotency_key=idempotency_key("ii", line_id),
            **options,
        )
    return data["id"]


def invoice_items_by_line(*, stripe_invoice_id: str) -> dict[str, str]:
    """`{our line id: Stripe item id}` already on a Stripe invoice: resume after the 24 h key window."""
    options = _options()
    found: dict[str, str] = {}
    with _translated():
        items = stripe.InvoiceItem.list(invoice=stripe_invoice_id, limit=100, **options)
        for item in items.auto_paging_iter():
            line_id = (item.get("metadata") or {}).get(METADATA_LINE_ID)
            if line_id:
                found[line_id] = item["id"]
    return found


def invoice_finalize(*, stripe_invoice_id: str, auto_advance: bool = True) -> StripeInvoiceState:
    """Step 3: finalize with auto_advance on, so Stripe's own retries own later attempts. Idempotent.

    `auto_advance=False` finalizes without starting Stripe's automatic collection: for a draft that staff settle
    (paid out of band), which must never be charged, not even in the moment before the next call."""
    options = _options()
    # Another key for the other body: the same key with different parameters is an idempotency error at Stripe.
    key = (
        idempotency_key("fin", stripe_invoice_id)
        if auto_advance
        else idempotency_key("fin", stripe_invoice_id, "manual")
    )
    try:
        with _translated():
            data = stripe.Invoice.finalize_invoice(
                stripe_invoice_id, auto_advance=auto_advance, idempotency_key=key, **options
            )
    except StripeRequestRejected:
        state = invoice_retrieve(stripe_invoice_id=stripe_invoice_id)
        if state.status == "draft":
            raise
        return state  # finalized by an earlier run whose key has expired
    return StripeInvoiceState.from_stripe(data)


def invoice_pay(*, stripe_invoice_id: str) -> StripeInvoiceState:
    """Step 4: one off-session payment attempt. A decline raises PaymentDeclined; the same key never charges twice."""
    options = _options()
    try:
        with _translated():
            data = stripe.Invoice.pay(
                stripe_invoice_id,
                off_session=True,
                idempotency_key=idempotency_key("pay", stripe_invoice_id),
                **options,
            )
    except StripeRequestRejected as e:
        state = invoice_retrieve(stripe_invoice_id=stripe_invoice_id)
        if state.status in ("paid", "void", "uncollectible"):
            return state  # settled already (an earlier run, or Stripe's own retry)
        if e.code == "invoice_no_payment_method":
            raise PaymentMethodMissing(str(e), code=e.code) from e
        raise
    return StripeInvoiceState.from_stripe(data)


def invoice_pay_out_of_band(*, stripe_invoice_id: str) -> StripeInvoiceState:
    """Tell Stripe an open (or uncollectible) invoice was paid outside Stripe: no charge is made, and Stripe's
    automatic collection stops. Stripe refuses (StripeRequestRejected) a draft, a paid or a void invoice."""
    options = _options()
    with _translated():
        data = stripe.Invoice.pay(
            stripe_invoice_id,
            paid_out_of_band=True,
            idempotency_key=idempotency_key("oob", stripe_invoice_id),
            **options,
        )
    return StripeInvoiceState.from_stripe(data)


def invoice_void(*, stripe_invoice_id: str) -> StripeInvoiceState:
    """Void an open (or uncollectible) invoice: Stripe stops collecting it and keeps it as a record. Stripe
    refuses (StripeRequestRejected) a draft, a paid or a void invoice."""
    options = _options()
    with _translated():
        data = stripe.Invoice.void_invoice(
            stripe_invoice_id, idempotency_key=idempotency_key("void", stripe_invoice_id), **options
        )
    return StripeInvoiceState.from_stripe(data)


def invoice_draft_delete(*, stripe_invoice_id: str) -> None:
    """Delete a draft (only drafts can be deleted; it was never shown to the customer nor charged). A draft that
    is gone already counts as deleted."""
    options = _options()
    try:
        with _translated():
            stripe.Invoice.delete(stripe_invoice_id, **options)
    except StripeRequestRejected as e:
        if e.code != "resource_missing":
            raise


def invoice_retrieve(*, stripe_invoice_id: str, with_paid_off_stripe: bool = False) -> StripeInvoiceState:
    """Re-read one invoice. `with_paid_off_stripe` also asks for `amount_paid_off_stripe` (paid out of band)."""
    options = _options()
    if with_paid_off_stripe:
        options = {**options, "expand": ["amount_paid_off_stripe"]}
    with _translated():
        return StripeInvoiceState.from_stripe(stripe.Invoice.retrieve(stripe_invoice_id, **options))


def invoice_find_by_metadata(*, our_invoice_id: int) -> StripeInvoiceState | None:
    """The Stripe invoice created for our invoice, found by metadata: reconciliation beyond the 24 h key window.

    Stripe's search index can lag by about a minute, so only use this for rows older than that.
    """
    options = _options()
    with _translated():
        result = stripe.Invoice.search(query=f"metadata['{METADATA_INVOICE_ID}']:'{int(our_invoice_id)}'", **options)
    found = sorted(result["data"], key=lambda i: (i["created"], i["id"]))
    if len(found) > 1:
        logger.error(
            "Stripe has %d invoices for JSN invoice %s: %s", len(found), our_invoice_id, [i["id"] for i in found]
        )
    return StripeInvoiceState.from_stripe(found[0]) if found else None


# --- webhook endpoint ----------------------------------------------------------------------------------------------
def webhook_endpoint_create(*, url: str, enabled_events: list[str], metadata: Mapping[str, str]) -> dict[str, Any]:
    """Register a webhook endpoint at Stripe. The answer is the only time Stripe reveals its signing secret."""
    options = _options()
    with _translated():
        data = stripe.WebhookEndpoint.create(
            url=url,
            enabled_events=enabled_events,
            api_version=djstripe_settings.STRIPE_API_VERSION,
            metadata=dict(metadata),
            description="JSN (dj-stripe)",
            **options,
        )
    return data
