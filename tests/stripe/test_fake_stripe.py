"""FakeStripe keeps Stripe's semantics that JSN relies on: idempotent replays, conflicts, failures."""

import pytest
import stripe

from tests.fakes.stripe import TEST_SECRET_KEY

OPTS = {"api_key": TEST_SECRET_KEY, "stripe_version": "2026-05-27.dahlia"}


def _customers(fake_stripe):
    return fake_stripe.of_type("customer")


def test_same_key_same_body_replays_first_answer(fake_stripe):
    first = stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    second = stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)

    assert first["id"] == second["id"]
    assert len(_customers(fake_stripe)) == 1
    assert [r.replayed for r in fake_stripe.requests("POST", "/v1/customers")] == [False, True]


def test_same_key_other_body_is_an_idempotency_error(fake_stripe):
    stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)

    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="b@example.com", idempotency_key="k1", **OPTS)
    assert len(_customers(fake_stripe)) == 1
    assert fake_stripe.requests("POST", "/v1/customers")[-1].status == 400


def test_expired_keys_are_forgotten(fake_stripe):
    stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    fake_stripe.expire_idempotency_keys()

    stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    assert len(_customers(fake_stripe)) == 2


def test_server_error_is_stored_under_the_key_and_replayed(fake_stripe):
    fake_stripe.inject("server_error", "POST", "/v1/customers")

    with pytest.raises(stripe.APIError):
        stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    # The SDK retried with the same key and got the stored 500 back, as Stripe does.
    attempts = fake_stripe.requests("POST", "/v1/customers")
    assert [(r.status, r.replayed) for r in attempts] == [(500, False), (500, True), (500, True)]
    assert _customers(fake_stripe) == []


def test_dropped_connection_never_reaches_stripe_and_the_sdk_retry_applies_once(fake_stripe):
    fake_stripe.inject("connection_drop", "POST", "/v1/customers")

    customer = stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)

    assert [c["id"] for c in _customers(fake_stripe)] == [customer["id"]]
    assert [r.injected for r in fake_stripe.requests("POST", "/v1/customers")] == ["connection_drop", None]


def test_dropped_connection_every_time_surfaces_as_connection_error(fake_stripe):
    fake_stripe.inject("connection_drop", "POST", "/v1/customers", times=None)

    with pytest.raises(stripe.APIConnectionError):
        stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    assert _customers(fake_stripe) == []


def test_crash_after_success_applies_once_and_the_retry_gets_the_stored_answer(fake_stripe):
    fake_stripe.inject("crash_after_success", "POST", "/v1/customers", times=3)

    with pytest.raises(stripe.APIConnectionError):
        stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    assert len(_customers(fake_stripe)) == 1  # Stripe applied it although the client never heard back

    again = stripe.Customer.create(email="a@example.com", idempotency_key="k1", **OPTS)
    assert [c["id"] for c in _customers(fake_stripe)] == [again["id"]]


def test_card_decline_answers_402_and_leaves_the_invoice_open(fake_stripe):
    customer = stripe.Customer.create(email="a@example.com", **OPTS)
    pm = fake_stripe.payment_method_create(customer=customer["id"], declines=True)
    stripe.Customer.modify(customer["id"], invoice_settings={"default_payment_method": pm["id"]}, **OPTS)
    invoice = stripe.Invoice.create(customer=customer["id"], currency="usd", **OPTS)
    stripe.InvoiceItem.create(customer=customer["id"], invoice=invoice["id"], amount=500, currency="usd", **OPTS)
    stripe.Invoice.finalize_invoice(invoice["id"], **OPTS)

    with pytest.raises(stripe.CardError) as error:
        stripe.Invoice.pay(invoice["id"], off_session=True, **OPTS)

    assert error.value.code == "card_declined"
    assert fake_stripe.get(invoice["id"])["status"] == "open"
    assert fake_stripe.get(invoice["id"])["attempt_count"] == 1
    assert fake_stripe.last_event("invoice.payment_failed")["data"]["object"]["id"] == invoice["id"]


def test_items_without_invoice_stay_pending_and_drafts_exclude_them(fake_stripe):
    customer = stripe.Customer.create(email="a@example.com", **OPTS)
    pending = stripe.InvoiceItem.create(customer=customer["id"], amount=700, currency="usd", **OPTS)
    invoice = stripe.Invoice.create(
        customer=customer["id"], currency="usd", pending_invoice_items_behavior="exclude", **OPTS
    )

    assert pending["invoice"] is None
    assert invoice["lines"]["data"] == []
    assert invoice["amount_due"] == 0


def test_unimplemented_endpoints_fail_loudly(fake_stripe):
    with pytest.raises(stripe.InvalidRequestError, match="FakeStripe does not implement"):
        stripe.Refund.create(charge="ch_1", **OPTS)


def test_wrong_api_key_is_refused(fake_stripe):
    with pytest.raises(stripe.AuthenticationError):
        stripe.Customer.create(email="a@example.com", api_key="sk_test_wrong")


def _open_invoice(fake_stripe, *, auto_advance: bool = True, declines: bool = False, amount: int = 500):
    customer = stripe.Customer.create(email="a@example.com", **OPTS)
    pm = fake_stripe.payment_method_create(customer=customer["id"], declines=declines)
    stripe.Customer.modify(customer["id"], invoice_settings={"default_payment_method": pm["id"]}, **OPTS)
    invoice = stripe.Invoice.create(customer=customer["id"], currency="usd", auto_advance=False, **OPTS)
    stripe.InvoiceItem.create(customer=customer["id"], invoice=invoice["id"], amount=amount, currency="usd", **OPTS)
    return stripe.Invoice.finalize_invoice(invoice["id"], auto_advance=auto_advance, **OPTS)


def test_paid_out_of_band_settles_without_a_charge_and_stops_automatic_collection(fake_stripe):
    invoice = _open_invoice(fake_stripe)

    paid = stripe.Invoice.pay(invoice["id"], paid_out_of_band=True, **OPTS)

    assert (paid["status"], paid["attempt_count"], paid["amount_remaining"]) == ("paid", 0, 0)
    assert "amount_paid_off_stripe" not in paid  # computed only when asked for (dahlia)
    again = stripe.Invoice.retrieve(invoice["id"], expand=["amount_paid_off_stripe"], **OPTS)
    assert again["amount_paid_off_stripe"] == 500
    assert fake_stripe.last_event("invoice.paid")["data"]["object"]["id"] == invoice["id"]
    assert fake_stripe.collect_automatically() == []
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        stripe.Invoice.pay(invoice["id"], off_session=True, **OPTS)


def test_paid_out_of_band_is_refused_for_drafts_and_void_invoices(fake_stripe):
    customer = stripe.Customer.create(email="a@example.com", **OPTS)
    draft = stripe.Invoice.create(customer=customer["id"], currency="usd", **OPTS)
    with pytest.raises(stripe.InvalidRequestError, match="Finalize it first"):
        stripe.Invoice.pay(draft["id"], paid_out_of_band=True, **OPTS)
    assert fake_stripe.get(draft["id"])["status"] == "draft"

    voided = stripe.Invoice.void_invoice(_open_invoice(fake_stripe)["id"], **OPTS)
    with pytest.raises(stripe.InvalidRequestError, match="voided"):
        stripe.Invoice.pay(voided["id"], paid_out_of_band=True, **OPTS)


def test_automatic_collection_charges_open_auto_advancing_invoices_only(fake_stripe):
    charged = _open_invoice(fake_stripe)
    manual = _open_invoice(fake_stripe, auto_advance=False)
    declined = _open_invoice(fake_stripe, declines=True)

    assert fake_stripe.collect_automatically() == [charged["id"], declined["id"]]

    assert fake_stripe.get(charged["id"])["status"] == "paid"
    assert (fake_stripe.get(manual["id"])["status"], fake_stripe.get(manual["id"])["attempt_count"]) == ("open", 0)
    assert (fake_stripe.get(declined["id"])["status"], fake_stripe.get(declined["id"])["attempt_count"]) == ("open", 1)
    assert fake_stripe.collect_automatically() == [declined["id"]]  # Stripe keeps retrying the declined one


def test_only_drafts_can_be_deleted_and_they_take_their_items(fake_stripe):
    customer = stripe.Customer.create(email="a@example.com", **OPTS)
    draft = stripe.Invoice.create(customer=customer["id"], currency="usd", **OPTS)
    item = stripe.InvoiceItem.create(customer=customer["id"], invoice=draft["id"], amount=500, currency="usd", **OPTS)

    deleted = stripe.Invoice.delete(draft["id"], **OPTS)

    assert deleted["deleted"] is True
    assert draft["id"] not in fake_stripe.objects and item["id"] not in fake_stripe.objects
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe.Invoice.retrieve(draft["id"], **OPTS)
    assert missing.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError, match="Void it instead"):
        stripe.Invoice.delete(_open_invoice(fake_stripe)["id"], **OPTS)


def test_uncollectible_invoices_can_still_be_paid_out_of_band_or_voided(fake_stripe):
    first, second = _open_invoice(fake_stripe), _open_invoice(fake_stripe)
    for invoice in (first, second):
        stripe.Invoice.mark_uncollectible(invoice["id"], **OPTS)

    assert stripe.Invoice.pay(first["id"], paid_out_of_band=True, **OPTS)["status"] == "paid"
    assert stripe.Invoice.void_invoice(second["id"], **OPTS)["status"] == "void"
