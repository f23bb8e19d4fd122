"""W3: invoice webhooks in every order through dj-stripe's real view; the ledger ends in Stripe's final status."""

from datetime import date, timedelta
from itertools import permutations

import pytest

from billing import stripe_gateway
from billing.models import Invoice, InvoiceEvent
from jsn.celery import app as celery_app
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import local, run_on
from tests.stripe.test_webhooks import deliver_event

D = date(2026, 6, 10)
EVENTS = ("invoice.created", "invoice.finalized", "invoice.payment_failed", "invoice.paid")
PAY = r"/v1/invoices/in_\w+/pay"


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def linked_invoice(fake_stripe, user) -> tuple[Invoice, str]:
    """A local invoice and its Stripe draft (linked as the sync links it), with one item, finalized."""
    ClaimFactory(user=user, claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=1), stripe=False)
    invoice = Invoice.objects.get(user=user)
    customer = stripe_gateway.customer_ensure(user=user)
    pm = fake_stripe.payment_method_create(customer=customer.id)
    stripe_gateway.customer_default_payment_method_set(customer_id=customer.id, payment_method_id=pm["id"])
    sid = stripe_gateway.invoice_draft_create(
        customer_id=customer.id, our_invoice_id=invoice.pk, invoice_date=D, currency="usd"
    )
    Invoice.objects.filter(pk=invoice.pk).update(stripe_invoice_id=sid, stripe_customer_id=customer.id)
    line = invoice.lines.get()
    stripe_gateway.invoice_item_create(
        customer_id=customer.id,
        stripe_invoice_id=sid,
        line_id=line.pk,
        amount_cents=line.amount_cents,
        currency="usd",
        description=line.description,
        period_start=local(D),
        period_end=local(D + timedelta(days=1)),
    )
    stripe_gateway.invoice_finalize(stripe_invoice_id=sid)
    return invoice, sid


def declined_then_paid(fake_stripe, sid: str) -> None:
    fake_stripe.inject("card_declined", "POST", PAY, times=1)
    with pytest.raises(stripe_gateway.PaymentDeclined):
        stripe_gateway.invoice_pay(stripe_invoice_id=sid)
    fake_stripe.expire_idempotency_keys()  # Stripe's own retry, a day later
    assert stripe_gateway.invoice_pay(stripe_invoice_id=sid).status == "paid"


@pytest.mark.django_db
@pytest.mark.parametrize("order", list(permutations(EVENTS)), ids=lambda o: ">".join(e.split(".")[1] for e in o))
def test_w3_invoice_events_in_any_order_end_paid(
    fake_stripe, endpoint, subscriber, order, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    invoice, sid = linked_invoice(fake_stripe, subscriber)
    declined_then_paid(fake_stripe, sid)
    events = {t: fake_stripe.last_event(t) for t in EVENTS}

    with django_capture_on_commit_callbacks(execute=True):
        statuses = [deliver_event(fake_stripe, endpoint, events[t]).status_code for t in order]

    assert statuses == [200] * 4
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID and invoice.paid_at is not None
    # Each handler re-read Stripe (already paid), so the ledger never passed through "failed" and nobody was
    # told their payment failed.
    assert list(InvoiceEvent.objects.filter(invoice=invoice).values_list("from_status", "to_status")) == [
        ("open", "paid")
    ]
    assert mailoutbox == []


@pytest.mark.django_db
def test_payment_failed_while_open_marks_failed_emails_once_then_paid_wins(
    fake_stripe, endpoint, subscriber, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    invoice, sid = linked_invoice(fake_stripe, subscriber)
    fake_stripe.inject("card_declined", "POST", PAY, times=1)
    with pytest.raises(stripe_gateway.PaymentDeclined):
        stripe_gateway.invoice_pay(stripe_invoice_id=sid)
    failed = fake_stripe.last_event("invoice.payment_failed")

    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_event(fake_stripe, endpoint, failed).status_code == 200
        assert deliver_event(fake_stripe, endpoint, failed).status_code == 200  # duplicate: no second e-mail
        assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event("invoice.finalized")).status_code == 200

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.FAILED  # a late "finalized" did not reopen it
    (mail,) = mailoutbox
    assert mail.to == [subscriber.email] and "/billing/" in mail.body
    assert mail.subject == f"[JSN] Your payment failed (invoice {invoice.number})"
    assert mail.body.startswith("Hello,\n\nWe could not charge your card") and mail.body.endswith("— JSN\n")

    fake_stripe.expire_idempotency_keys()
    stripe_gateway.invoice_pay(stripe_invoice_id=sid)
    with django_capture_on_commit_callbacks(execute=True):
        assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event("invoice.paid")).status_code == 200
        assert deliver_event(fake_stripe, endpoint, failed).status_code == 200  # replayed old event

    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.PAID
    assert list(InvoiceEvent.objects.filter(invoice=invoice).order_by("id").values_list("to_status", flat=True)) == [
        "failed",
        "paid",
    ]
    assert len(mailoutbox) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("action", "expected"), [("void", "void"), ("mark_uncollectible", "uncollectible")])
def test_void_and_uncollectible_at_stripe_reach_the_ledger(fake_stripe, endpoint, subscriber, action, expected):
    import stripe

    invoice, sid = linked_invoice(fake_stripe, subscriber)
    api_key = fake_stripe_key()
    getattr(stripe.Invoice, "void_invoice" if action == "void" else "mark_uncollectible")(sid, api_key=api_key)
    event_type = "invoice.voided" if action == "void" else "invoice.marked_uncollectible"

    assert deliver_event(fake_stripe, endpoint, fake_stripe.last_event(event_type)).status_code == 200

    invoice.refresh_from_db()
    assert invoice.status == expected


def fake_stripe_key() -> str:
    from tests.fakes.stripe import TEST_SECRET_KEY

    return TEST_SECRET_KEY
