"""Every key of every FakeStripe object is declared on the matching stripe-python class.

stripe-python's classes are generated from Stripe's OpenAPI spec for its API version, so a version bump that
renames or drops a field (as dahlia did with Invoice.paid and Invoice.subscription) makes this test fail.
"""

from datetime import UTC, date, datetime
from typing import Any

import pytest
import stripe

from billing import stripe_gateway
from tests.fakes.stripe import API_VERSION, TEST_SECRET_KEY

CLASSES: dict[str, type] = {
    "account": stripe.Account,
    "customer": stripe.Customer,
    "payment_method": stripe.PaymentMethod,
    "setup_intent": stripe.SetupIntent,
    "checkout.session": stripe.checkout.Session,
    "billing_portal.session": stripe.billing_portal.Session,
    "invoice": stripe.Invoice,
    "invoiceitem": stripe.InvoiceItem,
    "line_item": stripe.InvoiceLineItem,
    "item": stripe.LineItem,
    "subscription": stripe.Subscription,
    "subscription_item": stripe.SubscriptionItem,
    "price": stripe.Price,
    "product": stripe.Product,
    "event": stripe.Event,
    "webhook_endpoint": stripe.WebhookEndpoint,
}


def _declared(cls: type) -> set[str]:
    names: set[str] = set()
    for klass in cls.__mro__:
        names.update(getattr(klass, "__annotations__", {}))
    return {n for n in names if not n.startswith("_") and n != "OBJECT_NAME"}


def _check(value: Any, cls: type | None, where: str, problems: list[str]) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _check(item, cls, f"{where}[{i}]", problems)
        return
    if not isinstance(value, dict):
        return
    if value.get("object") in ("list", "search_result"):
        for i, item in enumerate(value["data"]):
            _check(item, CLASSES.get(item.get("object")), f"{where}.data[{i}]", problems)
        return
    if value.get("object") in CLASSES:
        cls = CLASSES[value["object"]]
    if cls is None or (not hasattr(cls, "_inner_class_types") and not hasattr(cls, "__annotations__")):
        return
    declared = _declared(cls)
    inner = getattr(cls, "_inner_class_types", {})
    for key, sub in value.items():
        if key not in declared:
            problems.append(f"{where}.{key} is not declared on {cls.__module__}.{cls.__qualname__}")
            continue
        if key == "data" and cls is stripe.Event:
            _check(sub.get("object"), None, f"{where}.data.object", problems)
            continue
        _check(sub, inner.get(key), f"{where}.{key}", problems)


@pytest.mark.django_db
def test_every_fake_object_matches_stripe_python(fake_stripe, subscriber, settings):
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]
    setup = stripe_gateway.checkout_setup_session_create(
        user=subscriber, success_url="https://x/s", cancel_url="https://x/c"
    )
    fake_stripe.checkout_complete(setup.id)
    stripe_gateway.checkout_setup_session_fulfil(session_id=setup.id)
    plz = stripe_gateway.checkout_subscription_session_create(
        user=subscriber, plzs=["10115"], success_url="https://x/s", cancel_url="https://x/c"
    )
    fake_stripe.checkout_complete(plz.id)
    stripe_gateway.portal_session_create(user=subscriber, return_url="https://x/r")
    customer_id = stripe_gateway.customer_for(user=subscriber).id
    invoice_id = stripe_gateway.invoice_draft_create(
        customer_id=customer_id, our_invoice_id=1, invoice_date=date(2026, 11, 20), currency="usd"
    )
    stripe_gateway.invoice_item_create(
        customer_id=customer_id,
        stripe_invoice_id=invoice_id,
        line_id=1,
        amount_cents=500,
        currency="usd",
        description="Case 1",
        period_start=datetime(2026, 11, 20, tzinfo=UTC),
        period_end=datetime(2026, 11, 21, tzinfo=UTC),
    )
    stripe_gateway.invoice_finalize(stripe_invoice_id=invoice_id)
    stripe_gateway.invoice_pay(stripe_invoice_id=invoice_id)
    stripe.WebhookEndpoint.create(
        url="https://x/hook", enabled_events=["*"], api_key=TEST_SECRET_KEY, stripe_version=API_VERSION
    )

    problems: list[str] = []
    seen: set[str] = set()
    for obj in fake_stripe.objects.values():
        seen.add(obj["object"])
        _check(fake_stripe.render(obj, ["line_items"]), None, obj["id"], problems)
    for request in fake_stripe.log:
        _check(request.response, None, f"{request.method} {request.path}", problems)

    assert problems == []
    assert set(CLASSES) - {"item"} <= seen | {"line_item"}
