"""billing.stripe_gateway against FakeStripe: what reaches Stripe, with which keys, and what a crash leaves."""

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from djstripe.models import Customer

from billing import stripe_gateway
from billing.stripe_gateway import (
    PaymentDeclined,
    PaymentMethodMissing,
    StripeNotConfigured,
    StripeRequestRejected,
    StripeUnavailable,
)

DAY = date(2026, 11, 20)
START = datetime(2026, 11, 20, tzinfo=UTC)


def _with_card(fake_stripe, user, *, declines: bool = False) -> str:
    customer = stripe_gateway.customer_ensure(user=user)
    pm = fake_stripe.payment_method_create(customer=customer.id, declines=declines)
    stripe_gateway.customer_default_payment_method_set(customer_id=customer.id, payment_method_id=pm["id"])
    return customer.id


@pytest.mark.django_db
def test_without_keys_nothing_is_sent(settings, subscriber):
    settings.STRIPE_ENABLED = False
    settings.STRIPE_TEST_SECRET_KEY = ""

    with pytest.raises(StripeNotConfigured):
        stripe_gateway.customer_ensure(user=subscriber)
    with pytest.raises(StripeNotConfigured):
        stripe_gateway.invoice_draft_create(customer_id="cus_1", our_invoice_id=1, invoice_date=DAY, currency="usd")
    assert stripe_gateway.customer_has_payment_method(user=subscriber) is False


@pytest.mark.django_db
def test_customer_is_created_once_and_mirrored(fake_stripe, subscriber):
    first = stripe_gateway.customer_ensure(user=subscriber)
    second = stripe_gateway.customer_ensure(user=subscriber)

    assert first.pk == second.pk
    assert first.subscriber == subscriber
    assert first.stripe_data["email"] == subscriber.email
    creates = fake_stripe.requests("POST", "/v1/customers")
    assert len(creates) == 1
    assert creates[0].idempotency_key == f"jsn-cus-{subscriber.pk}-{int(subscriber.date_joined.timestamp())}"


@pytest.mark.django_db
def test_customer_create_crash_after_stripe_answered_reuses_the_same_customer(fake_stripe, subscriber):
    fake_stripe.inject("crash_after_success", "POST", "/v1/customers", times=3)

    with pytest.raises(StripeUnavailable):
        stripe_gateway.customer_ensure(user=subscriber)
    assert not Customer.objects.exists()

    customer = stripe_gateway.customer_ensure(user=subscriber)
    assert [c["id"] for c in fake_stripe.of_type("customer")] == [customer.id]


@pytest.mark.django_db
def test_setup_checkout_then_fulfilment_sets_the_default_card(fake_stripe, subscriber):
    link = stripe_gateway.checkout_setup_session_create(
        user=subscriber, success_url="https://jsn.example/ok", cancel_url="https://jsn.example/no"
    )
    assert link.url.startswith("https://checkout.stripe.com/")
    sent = fake_stripe.requests("POST", "/v1/checkout/sessions")[0].params
    assert sent["mode"] == "setup"
    assert sent["customer"] == stripe_gateway.customer_for(user=subscriber).id
    assert stripe_gateway.customer_has_payment_method(user=subscriber) is False

    fake_stripe.checkout_complete(link.id)
    stripe_gateway.checkout_setup_session_fulfil(session_id=link.id)

    assert stripe_gateway.customer_has_payment_method(user=subscriber) is True
    customer = fake_stripe.get(stripe_gateway.customer_for(user=subscriber).id)
    assert customer["invoice_settings"]["default_payment_method"] == fake_stripe.of_type("payment_method")[0]["id"]


@pytest.mark.django_db
def test_subscription_checkout_carries_the_plzs(fake_stripe, subscriber, settings):
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]

    link = stripe_gateway.checkout_subscription_session_create(
        user=subscriber, plzs=["80331", "10115", "10115"], success_url="https://x/ok", cancel_url="https://x/no"
    )
    fake_stripe.checkout_complete(link.id)

    sent = fake_stripe.requests("POST", "/v1/checkout/sessions")[0].params
    assert sent["mode"] == "subscription"
    assert sent["line_items"] == [{"price": settings.STRIPE_PLZ_PRICE_ID, "quantity": "2"}]
    (subscription,) = fake_stripe.of_type("subscription")
    assert subscription["metadata"]["jsn_plzs"] == "10115,80331"
    assert subscription["metadata"]["jsn_user_id"] == str(subscriber.pk)


@pytest.mark.django_db
def test_subscription_checkout_needs_a_price(fake_stripe, subscriber):
    with pytest.raises(StripeNotConfigured):
        stripe_gateway.checkout_subscription_session_create(
            user=subscriber, plzs=["10115"], success_url="https://x/ok", cancel_url="https://x/no"
        )
    assert fake_stripe.requests("POST", "/v1/checkout/sessions") == []


@pytest.mark.django_db
def test_portal_session(fake_stripe, subscriber):
    link = stripe_gateway.portal_session_create(user=subscriber, return_url="https://jsn.example/billing/")

    assert link.url.startswith("https://billing.stripe.com/")
    assert fake_stripe.requests("POST", "/v1/billing_portal/sessions")[0].params["return_url"] == (
        "https://jsn.example/billing/"
    )


# --- the daily invoice --------------------------------------------------------------------------------------------
@dataclass
class Ledger:
    """Stands in for the billing ledger's rows: each step's Stripe id is stored before the next step runs."""

    invoice_id: int
    customer_id: str
    lines: dict[int, int]  # line id -> cents
    stripe_invoice_id: str | None = None
    item_ids: dict[int, str] = field(default_factory=dict)
    finalized: bool = False
    outcome: str | None = None

    def run(self) -> None:
        if self.stripe_invoice_id is None:
            self.stripe_invoice_id = stripe_gateway.invoice_draft_create(
                customer_id=self.customer_id, our_invoice_id=self.invoice_id, invoice_date=DAY, currency="usd"
            )
        for line_id, cents in self.lines.items():
            if line_id not in self.item_ids:
                self.item_ids[line_id] = stripe_gateway.invoice_item_create(
                    customer_id=self.customer_id,
                    stripe_invoice_id=self.stripe_invoice_id,
                    line_id=line_id,
                    amount_cents=cents,
                    currency="usd",
                    description=f"Case {line_id}, {DAY}",
                    period_start=START,
                    period_end=START + timedelta(days=1),
                    metadata={"jsn_invoice_id": str(self.invoice_id)},
                )
        if not self.finalized:
            stripe_gateway.invoice_finalize(stripe_invoice_id=self.stripe_invoice_id)
            self.finalized = True
        if self.outcome is None:
            try:
                self.outcome = stripe_gateway.invoice_pay(stripe_invoice_id=self.stripe_invoice_id).status
            except PaymentDeclined:
                self.outcome = "declined"


@pytest.mark.django_db
def test_daily_invoice_steps_with_deterministic_keys(fake_stripe, subscriber):
    ledger = Ledger(invoice_id=41, customer_id=_with_card(fake_stripe, subscriber), lines={7: 1500, 8: 500})

    ledger.run()

    assert ledger.outcome == "paid"
    invoice = fake_stripe.get(ledger.stripe_invoice_id)
    assert (invoice["status"], invoice["amount_paid"]) == ("paid", 2000)
    assert invoice["metadata"]["jsn_invoice_id"] == "41"
    (create,) = fake_stripe.requests("POST", "/v1/invoices")
    assert create.idempotency_key == "jsn-inv-41"
    assert create.params["pending_invoice_items_behavior"] == "exclude"
    assert create.params["auto_advance"] == "false"
    items = fake_stripe.requests("POST", "/v1/invoiceitems")
    assert [r.idempotency_key for r in items] == ["jsn-ii-7", "jsn-ii-8"]
    assert all(r.params["invoice"] == ledger.stripe_invoice_id for r in items)
    assert items[0].params["period"] == {
        "start": str(int(START.timestamp())),
        "end": str(int(START.timestamp()) + 86400),
    }
    assert items[0].params["metadata"] == {"jsn_invoice_id": "41", "jsn_line_id": "7"}
    (finalize,) = fake_stripe.requests("POST", r"/v1/invoices/in_\w+/finalize")
    assert finalize.params["auto_advance"] == "true"
    (pay,) = fake_stripe.requests("POST", r"/v1/invoices/in_\w+/pay")
    assert pay.params["off_session"] == "true"
    assert pay.idempotency_key == f"jsn-pay-{ledger.stripe_invoice_id}"


STEPS = [
    ("draft", "POST", "/v1/invoices"),
    ("first item", "POST", "/v1/invoiceitems"),
    ("finalize", "POST", r"/v1/invoices/in_\w+/finalize"),
    ("pay", "POST", r"/v1/invoices/in_\w+/pay"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["crash_after_success", "connection_drop", "server_error"])
@pytest.mark.parametrize(("step", "method", "path"), STEPS, ids=[s[0] for s in STEPS])
def test_failure_at_any_step_then_rerun_bills_once(fake_stripe, subscriber, step, method, path, kind):
    ledger = Ledger(invoice_id=42, customer_id=_with_card(fake_stripe, subscriber), lines={1: 500, 2: 700, 3: 900})
    fake_stripe.inject(kind, method, path, times=3)  # the SDK's two retries fail as well

    with pytest.raises(StripeUnavailable):
        ledger.run()
    if kind == "server_error":
        # Stripe replays a stored 500 for 24 h; the ledger retries after the key window, reconciling first.
        fake_stripe.expire_idempotency_keys()
        if ledger.stripe_invoice_id is None:
            found = stripe_gateway.invoice_find_by_metadata(our_invoice_id=42)
            ledger.stripe_invoice_id = found.id if found else None
    for _ in range(3):  # re-run until quiet
        ledger.run()

    (invoice,) = fake_stripe.of_type("invoice")
    assert invoice["status"] == "paid"
    assert invoice["amount_paid"] == 2100
    items = fake_stripe.of_type("invoiceitem")
    assert sorted(i["metadata"]["jsn_line_id"] for i in items) == ["1", "2", "3"]
    assert all(i["invoice"] == invoice["id"] for i in items)
    assert all(r.params.get("invoice") == invoice["id"] for r in fake_stripe.requests("POST", "/v1/invoiceitems"))
    charges = [
        r for r in fake_stripe.requests("POST", r"/v1/invoices/in_\w+/pay") if r.status == 200 and not r.replayed
    ]
    assert len(charges) == 1  # every other attempt was a replay of the stored answer: charged once
    assert invoice["attempt_count"] == 1


@pytest.mark.django_db
def test_rerun_after_the_key_window_reconciles_by_metadata(fake_stripe, subscriber):
    customer_id = _with_card(fake_stripe, subscriber)
    fake_stripe.inject("crash_after_success", "POST", "/v1/invoices", times=3)
    with pytest.raises(StripeUnavailable):
        stripe_gateway.invoice_draft_create(
            customer_id=customer_id, our_invoice_id=43, invoice_date=DAY, currency="usd"
        )
    fake_stripe.expire_idempotency_keys()

    found = stripe_gateway.invoice_find_by_metadata(our_invoice_id=43)

    assert found is not None
    assert found.id == fake_stripe.of_type("invoice")[0]["id"]
    assert stripe_gateway.invoice_find_by_metadata(our_invoice_id=44) is None


@pytest.mark.django_db
def test_items_already_on_stripe_are_found_by_line(fake_stripe, subscriber):
    ledger = Ledger(invoice_id=45, customer_id=_with_card(fake_stripe, subscriber), lines={5: 500, 6: 600})
    ledger.run()

    assert stripe_gateway.invoice_items_by_line(stripe_invoice_id=ledger.stripe_invoice_id) == {
        "5": ledger.item_ids[5],
        "6": ledger.item_ids[6],
    }


@pytest.mark.django_db
def test_finalize_and_pay_after_the_key_window_are_harmless(fake_stripe, subscriber):
    ledger = Ledger(invoice_id=46, customer_id=_with_card(fake_stripe, subscriber), lines={1: 500})
    ledger.run()
    fake_stripe.expire_idempotency_keys()

    assert stripe_gateway.invoice_finalize(stripe_invoice_id=ledger.stripe_invoice_id).status == "paid"
    assert stripe_gateway.invoice_pay(stripe_invoice_id=ledger.stripe_invoice_id).status == "paid"
    assert fake_stripe.get(ledger.stripe_invoice_id)["attempt_count"] == 1


@pytest.mark.django_db
def test_decline_is_recorded_once_not_retried(fake_stripe, subscriber):
    ledger = Ledger(invoice_id=47, customer_id=_with_card(fake_stripe, subscriber, declines=True), lines={1: 500})

    ledger.run()
    assert ledger.outcome == "declined"
    with pytest.raises(PaymentDeclined) as declined:  # a second run within the window replays the 402
        stripe_gateway.invoice_pay(stripe_invoice_id=ledger.stripe_invoice_id)

    assert declined.value.code == "card_declined"
    assert declined.value.decline_code == "generic_decline"
    invoice = fake_stripe.get(ledger.stripe_invoice_id)
    assert (invoice["status"], invoice["attempt_count"]) == ("open", 1)


@pytest.mark.django_db
def test_no_payment_method(fake_stripe, subscriber):
    customer_id = stripe_gateway.customer_ensure(user=subscriber).id
    ledger = Ledger(invoice_id=48, customer_id=customer_id, lines={1: 500})

    ledger.run()

    assert ledger.outcome == "declined"
    with pytest.raises(PaymentMethodMissing):
        stripe_gateway.invoice_pay(stripe_invoice_id=ledger.stripe_invoice_id)
    assert fake_stripe.get(ledger.stripe_invoice_id)["status"] == "open"


@pytest.mark.django_db
def test_amount_below_the_minimum_charge_goes_to_the_balance(fake_stripe, subscriber):
    ledger = Ledger(invoice_id=49, customer_id=_with_card(fake_stripe, subscriber), lines={1: 30})

    ledger.run()

    assert ledger.outcome == "paid"
    assert fake_stripe.get(ledger.customer_id)["balance"] == 30
    assert fake_stripe.get(ledger.stripe_invoice_id)["amount_paid"] == 0


@pytest.mark.django_db
def test_item_period_must_be_aware(fake_stripe, subscriber):
    with pytest.raises(TypeError):
        stripe_gateway.invoice_item_create(
            customer_id="cus_x",
            stripe_invoice_id="in_x",
            line_id=1,
            amount_cents=500,
            currency="usd",
            description="x",
            period_start=datetime(2026, 11, 20),
            period_end=datetime(2026, 11, 21),
        )
    assert fake_stripe.log == []


# --- staff settling an invoice (billing.invoice_status) -----------------------------------------------------------
def _draft_with_items(fake_stripe, user, *, invoice_id: int, lines: dict[int, int]) -> str:
    customer_id = _with_card(fake_stripe, user)
    stripe_invoice_id = stripe_gateway.invoice_draft_create(
        customer_id=customer_id, our_invoice_id=invoice_id, invoice_date=DAY, currency="usd"
    )
    for line_id, cents in lines.items():
        stripe_gateway.invoice_item_create(
            customer_id=customer_id,
            stripe_invoice_id=stripe_invoice_id,
            line_id=line_id,
            amount_cents=cents,
            currency="usd",
            description=f"Case {line_id}",
            period_start=START,
            period_end=START + timedelta(days=1),
        )
    return stripe_invoice_id


@pytest.mark.django_db
def test_finalize_without_auto_advance_then_pay_out_of_band_never_charges(fake_stripe, subscriber):
    stripe_invoice_id = _draft_with_items(fake_stripe, subscriber, invoice_id=50, lines={1: 500, 2: 700})

    state = stripe_gateway.invoice_finalize(stripe_invoice_id=stripe_invoice_id, auto_advance=False)
    assert (state.status, state.total) == ("open", 1200)
    (finalize,) = fake_stripe.requests("POST", r"/v1/invoices/in_\w+/finalize")
    assert (finalize.params["auto_advance"], finalize.idempotency_key) == (
        "false",
        f"jsn-fin-{stripe_invoice_id}-manual",
    )
    assert fake_stripe.collect_automatically() == []  # no automatic collection starts

    paid = stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_invoice_id)

    assert paid.status == "paid"
    (pay,) = fake_stripe.requests("POST", r"/v1/invoices/in_\w+/pay")
    assert (pay.params, pay.idempotency_key) == ({"paid_out_of_band": "true"}, f"jsn-oob-{stripe_invoice_id}")
    invoice = fake_stripe.get(stripe_invoice_id)
    assert (invoice["status"], invoice["attempt_count"]) == ("paid", 0)
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_invoice_id, with_paid_off_stripe=True)
    assert state.amount_paid_off_stripe == 1200
    assert stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_invoice_id).amount_paid_off_stripe is None


@pytest.mark.django_db
def test_out_of_band_payment_whose_answer_was_lost_is_replayed_not_repeated(fake_stripe, subscriber):
    stripe_invoice_id = _draft_with_items(fake_stripe, subscriber, invoice_id=51, lines={1: 500})
    stripe_gateway.invoice_finalize(stripe_invoice_id=stripe_invoice_id, auto_advance=False)
    fake_stripe.inject("crash_after_success", "POST", r"/v1/invoices/in_\w+/pay", times=3)

    with pytest.raises(StripeUnavailable):
        stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_invoice_id)
    assert fake_stripe.get(stripe_invoice_id)["status"] == "paid"  # Stripe applied it; we never heard

    assert stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_invoice_id).status == "paid"
    assert [r.replayed for r in fake_stripe.requests("POST", r"/v1/invoices/in_\w+/pay")][-1] is True


@pytest.mark.django_db
def test_stripe_refuses_out_of_band_for_a_draft_or_a_paid_invoice(fake_stripe, subscriber):
    stripe_invoice_id = _draft_with_items(fake_stripe, subscriber, invoice_id=52, lines={1: 500})
    with pytest.raises(StripeRequestRejected):
        stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_invoice_id)
    stripe_gateway.invoice_finalize(stripe_invoice_id=stripe_invoice_id)
    stripe_gateway.invoice_pay(stripe_invoice_id=stripe_invoice_id)  # the card pays it
    with pytest.raises(StripeRequestRejected):
        stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_invoice_id)
    assert (
        stripe_gateway.invoice_retrieve(
            stripe_invoice_id=stripe_invoice_id, with_paid_off_stripe=True
        ).amount_paid_off_stripe
        == 0
    )


@pytest.mark.django_db
def test_void_an_open_invoice_and_delete_a_draft(fake_stripe, subscriber):
    opened = _draft_with_items(fake_stripe, subscriber, invoice_id=53, lines={1: 500})
    stripe_gateway.invoice_finalize(stripe_invoice_id=opened, auto_advance=False)
    assert stripe_gateway.invoice_void(stripe_invoice_id=opened).status == "void"
    assert fake_stripe.requests("POST", r"/v1/invoices/in_\w+/void")[0].idempotency_key == f"jsn-void-{opened}"

    draft = stripe_gateway.invoice_draft_create(
        customer_id=fake_stripe.get(opened)["customer"], our_invoice_id=54, invoice_date=DAY, currency="usd"
    )
    stripe_gateway.invoice_draft_delete(stripe_invoice_id=draft)
    assert draft not in fake_stripe.objects
    stripe_gateway.invoice_draft_delete(stripe_invoice_id=draft)  # gone already: not an error
    with pytest.raises(StripeRequestRejected):
        stripe_gateway.invoice_draft_delete(stripe_invoice_id=opened)  # only drafts


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_customer_ensure_from_eight_threads_creates_one_customer(fake_stripe, subscriber):
    import threading

    from django.db import connection

    barrier = threading.Barrier(8)
    ids: list[str] = []

    def worker() -> None:
        try:
            barrier.wait(timeout=30)
            ids.append(stripe_gateway.customer_ensure(user=subscriber).id)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert len(ids) == 8
    assert len(set(ids)) == 1
    assert len(fake_stripe.of_type("customer")) == 1
    assert Customer.objects.filter(subscriber=subscriber).count() == 1
