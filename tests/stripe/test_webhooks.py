"""Stripe webhooks through dj-stripe's real view: real HMAC signatures, FakeStripe answering the re-fetches.

The business effect used throughout is the one a subscriber notices: after Checkout in setup mode, the saved card
becomes the customer's default payment method (at Stripe and in the local mirror), exactly once.
"""

import io
import json
import threading
import time
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client
from djstripe.models import Event, PaymentMethod, Session, Subscription, WebhookEndpoint, WebhookEventTrigger
from djstripe.models import Invoice as StripeInvoice

from billing import stripe_gateway

UPDATE_CUSTOMER = r"/v1/customers/cus_\w+"


@pytest.fixture
def endpoint(fake_stripe, db) -> WebhookEndpoint:
    out = io.StringIO()
    call_command("stripe_webhook_endpoint_create", "https://jsn.example", stdout=out)
    return WebhookEndpoint.objects.get()


@pytest.fixture
def completed_setup(fake_stripe, subscriber):
    """A subscriber who finished Checkout in setup mode; the webhook has not arrived yet."""
    link = stripe_gateway.checkout_setup_session_create(
        user=subscriber, success_url="https://x/s", cancel_url="https://x/c"
    )
    event = fake_stripe.checkout_complete(link.id)
    return SimpleNamespace(event=event, session_id=link.id, user=subscriber)


def deliver(endpoint, payload: str, signature: str | None, client: Client | None = None):
    client = client or Client(raise_request_exception=False)
    headers = {"HTTP_STRIPE_SIGNATURE": signature} if signature is not None else {}
    return client.post(
        f"/stripe/webhook/{endpoint.djstripe_uuid}/", data=payload, content_type="application/json", **headers
    )


def deliver_event(fake_stripe, endpoint, event, client: Client | None = None):
    payload, signature = fake_stripe.signed_webhook(event, endpoint.secret)
    return deliver(endpoint, payload, signature, client)


def default_payment_method_writes(fake_stripe) -> list:
    """Updates of a customer's default payment method that Stripe actually applied (not replays)."""
    return [
        r
        for r in fake_stripe.requests("POST", UPDATE_CUSTOMER)
        if "invoice_settings" in r.params and r.status == 200 and not r.replayed
    ]


def has_default_card(user) -> bool:
    return stripe_gateway.customer_has_payment_method(user=user)


# --- the endpoint command ------------------------------------------------------------------------------------------
def test_endpoint_command_registers_the_url_and_stores_the_secret(fake_stripe, db, settings):
    out = io.StringIO()
    call_command("stripe_webhook_endpoint_create", "https://jsn.example/", stdout=out)

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == f"https://jsn.example/stripe/webhook/{endpoint.djstripe_uuid}/"
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.url in out.getvalue()
    (sent,) = fake_stripe.requests("POST", "/v1/webhook_endpoints")
    assert sent.params["api_version"] == settings.STRIPE_API_VERSION == "2026-05-27.dahlia"
    assert "checkout.session.completed" in sent.params["enabled_events"]
    assert "checkout.session.expired" in sent.params["enabled_events"]  # retires a PLZ Checkout closed at Stripe
    assert "invoice.paid" in sent.params["enabled_events"]


# --- W1: signatures ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_w1_valid_signature_applies_the_event(fake_stripe, endpoint, completed_setup):
    response = deliver_event(fake_stripe, endpoint, completed_setup.event)

    assert response.status_code == 200
    assert has_default_card(completed_setup.user)
    assert len(default_payment_method_writes(fake_stripe)) == 1


def _bad_deliveries(fake_stripe, endpoint, event):
    payload, signature = fake_stripe.signed_webhook(event, endpoint.secret)
    tampered = payload.replace('"status": "complete"', '"status": "completx"')
    assert tampered != payload
    _, wrong = fake_stripe.signed_webhook(event, "whsec_not_the_endpoint_secret")
    stale = fake_stripe.sign(payload, endpoint.secret, timestamp=int(time.time()) - 301)
    return {
        "tampered": (tampered, signature),
        "wrong secret": (payload, wrong),
        "missing header": (payload, None),
        "stale timestamp": (payload, stale),
        "garbage header": (payload, "t=1,v1=deadbeef"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("case", ["tampered", "wrong secret", "missing header", "stale timestamp", "garbage header"])
def test_w1_bad_signature_is_400_with_no_effect(fake_stripe, endpoint, completed_setup, case):
    payload, signature = _bad_deliveries(fake_stripe, endpoint, completed_setup.event)[case]
    requests_before = len(fake_stripe.log)

    response = deliver(endpoint, payload, signature)

    assert response.status_code == 400
    assert not has_default_card(completed_setup.user)
    assert not Event.objects.exists()
    assert not Session.objects.exists()
    assert len(fake_stripe.log) == requests_before  # nothing was fetched or written at Stripe


# --- W2: duplicates ------------------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_w2_same_event_ten_times_in_a_row_applies_once(fake_stripe, endpoint, completed_setup):
    statuses = [deliver_event(fake_stripe, endpoint, completed_setup.event).status_code for _ in range(10)]

    assert statuses == [200] * 10
    assert Event.objects.filter(id=completed_setup.event["id"]).count() == 1
    assert len(default_payment_method_writes(fake_stripe)) == 1
    assert len(fake_stripe.requests("POST", UPDATE_CUSTOMER)) == 1
    assert has_default_card(completed_setup.user)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_w2_same_event_ten_times_at_once_applies_once(fake_stripe, endpoint, completed_setup):
    payload, signature = fake_stripe.signed_webhook(completed_setup.event, endpoint.secret)
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def worker() -> None:
        try:
            client = Client(raise_request_exception=False)
            barrier.wait(timeout=30)
            statuses.append(deliver(endpoint, payload, signature, client).status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(statuses) == [200] * 10
    assert Event.objects.filter(id=completed_setup.event["id"]).count() == 1
    assert len(default_payment_method_writes(fake_stripe)) == 1
    assert has_default_card(completed_setup.user)


# --- W4: a handler failing midway ----------------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["connection_drop", "crash_after_success", "server_error"])
def test_w4_handler_failure_rolls_back_and_the_next_delivery_applies_once(fake_stripe, endpoint, completed_setup, kind):
    # dj-stripe has mirrored the session and the card by the time our handler's write to Stripe fails.
    fake_stripe.inject(kind, "POST", UPDATE_CUSTOMER, times=3)

    failed = deliver_event(fake_stripe, endpoint, completed_setup.event)

    assert failed.status_code == 500  # Stripe will deliver again
    assert not Event.objects.exists()
    assert not Session.objects.exists()
    assert not PaymentMethod.objects.exists()
    assert not has_default_card(completed_setup.user)
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (True, False)
    if kind == "server_error":
        fake_stripe.expire_idempotency_keys()  # Stripe replays a stored 500 until the key expires

    retried = deliver_event(fake_stripe, endpoint, completed_setup.event)

    assert retried.status_code == 200
    assert has_default_card(completed_setup.user)
    assert Event.objects.count() == 1
    assert len(default_payment_method_writes(fake_stripe)) == 1


# --- the other handled events ----------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_payment_method_attached_becomes_default_only_when_there_is_none(fake_stripe, endpoint, subscriber):
    customer = stripe_gateway.customer_ensure(user=subscriber)
    fake_stripe.payment_method_create(customer=customer.id)
    first = fake_stripe.last_event("payment_method.attached")
    fake_stripe.payment_method_create(customer=customer.id)
    second = fake_stripe.last_event("payment_method.attached")

    assert deliver_event(fake_stripe, endpoint, first).status_code == 200
    assert deliver_event(fake_stripe, endpoint, second).status_code == 200

    customer.refresh_from_db()
    assert customer.default_payment_method_id is not None
    assert customer.default_payment_method.id == first["data"]["object"]["id"]
    assert len(default_payment_method_writes(fake_stripe)) == 1


@pytest.mark.django_db
def test_subscription_events_reach_the_leads_seam(fake_stripe, endpoint, subscriber, settings, monkeypatch):
    import leads.services

    calls: list[str] = []

    def sync(*, stripe_subscription_id: str) -> None:
        calls.append(stripe_subscription_id)

    monkeypatch.setattr(leads.services, "plz_subscription_sync_from_stripe", sync, raising=False)
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]
    link = stripe_gateway.checkout_subscription_session_create(
        user=subscriber, plzs=["10115"], success_url="https://x/s", cancel_url="https://x/c"
    )
    fake_stripe.checkout_complete(link.id)
    created = fake_stripe.last_event("customer.subscription.created")

    assert deliver_event(fake_stripe, endpoint, created).status_code == 200
    assert deliver_event(fake_stripe, endpoint, created).status_code == 200

    subscription_id = created["data"]["object"]["id"]
    assert calls == [subscription_id]
    assert Subscription.objects.get(id=subscription_id).stripe_data["metadata"]["jsn_plzs"] == "10115"


@pytest.mark.django_db
def test_subscription_events_without_the_leads_seam_are_acknowledged(
    fake_stripe, endpoint, subscriber, settings, monkeypatch
):
    import leads.services

    monkeypatch.delattr(leads.services, "plz_subscription_sync_from_stripe", raising=False)
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]
    link = stripe_gateway.checkout_subscription_session_create(
        user=subscriber, plzs=["10115"], success_url="https://x/s", cancel_url="https://x/c"
    )
    fake_stripe.checkout_complete(link.id)

    assert (
        deliver_event(fake_stripe, endpoint, fake_stripe.last_event("customer.subscription.created")).status_code == 200
    )


def _paid_invoice_event(fake_stripe, subscriber):
    customer = stripe_gateway.customer_ensure(user=subscriber)
    pm = fake_stripe.payment_method_create(customer=customer.id)
    stripe_gateway.customer_default_payment_method_set(customer_id=customer.id, payment_method_id=pm["id"])
    invoice_id = stripe_gateway.invoice_draft_create(
        customer_id=customer.id, our_invoice_id=7, invoice_date=date(2026, 11, 20), currency="usd"
    )
    stripe_gateway.invoice_item_create(
        customer_id=customer.id,
        stripe_invoice_id=invoice_id,
        line_id=70,
        amount_cents=500,
        currency="usd",
        description="Case",
        period_start=datetime(2026, 11, 20, tzinfo=UTC),
        period_end=datetime(2026, 11, 21, tzinfo=UTC),
    )
    stripe_gateway.invoice_finalize(stripe_invoice_id=invoice_id)
    stripe_gateway.invoice_pay(stripe_invoice_id=invoice_id)
    return invoice_id, fake_stripe.last_event("invoice.paid")


@pytest.mark.django_db
def test_invoice_events_are_mirrored_and_reach_the_ledger_seam(fake_stripe, endpoint, subscriber, monkeypatch):
    import billing.services

    calls: list[dict] = []
    monkeypatch.setattr(billing.services, "invoice_stripe_status_apply", lambda **kw: calls.append(kw), raising=False)
    invoice_id, event = _paid_invoice_event(fake_stripe, subscriber)

    assert deliver_event(fake_stripe, endpoint, event).status_code == 200
    assert deliver_event(fake_stripe, endpoint, event).status_code == 200

    assert calls == [
        {"stripe_invoice_id": invoice_id, "stripe_status": "paid", "event_type": "invoice.paid", "attempt_count": 1}
    ]
    assert StripeInvoice.objects.get(id=invoice_id).stripe_data["status"] == "paid"


@pytest.mark.django_db
def test_invoice_events_without_the_ledger_seam_are_acknowledged(fake_stripe, endpoint, subscriber, monkeypatch):
    import billing.services

    monkeypatch.delattr(billing.services, "invoice_stripe_status_apply", raising=False)
    _, event = _paid_invoice_event(fake_stripe, subscriber)

    assert deliver_event(fake_stripe, endpoint, event).status_code == 200


def test_event_body_is_json(fake_stripe):
    event = fake_stripe.emit("customer.updated", {"id": "cus_x", "object": "customer"})
    payload, signature = fake_stripe.signed_webhook(event, "whsec_x")
    assert json.loads(payload)["id"] == event["id"]
    assert signature.startswith("t=")
