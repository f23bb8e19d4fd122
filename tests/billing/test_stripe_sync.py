"""Daily invoices to Stripe (against FakeStripe): charged once, declines recorded and e-mailed, crashes resumed."""

from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from django.core.management import call_command

from billing import stripe_gateway
from billing.models import Invoice, InvoiceEvent, InvoiceLine
from billing.services import SyncOutcome, billing_run, invoice_stripe_sync, invoices_stripe_sync_pending
from jsn.celery import app as celery_app
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import frozen, local, run_on
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

D = date(2026, 6, 10)
PAY = r"/v1/invoices/in_\w+/pay"


@pytest.fixture
def eager_celery() -> Iterator[None]:
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def now_after_d():
    """Sync on the morning after D (the invoice is fresh, as after the 00:15 run)."""
    with frozen(local(D + timedelta(days=1), 0, 20)):
        yield


def with_card(fake_stripe, user, *, declines: bool = False) -> str:
    customer = stripe_gateway.customer_ensure(user=user)
    pm = fake_stripe.payment_method_create(customer=customer.id, declines=declines)
    stripe_gateway.customer_default_payment_method_set(customer_id=customer.id, payment_method_id=pm["id"])
    return customer.id


def local_invoice(user, prices=(1500, 500)) -> Invoice:
    for cents in prices:
        ClaimFactory(user=user, claimed_at=local(D, 9), daily_price_cents=cents)
    run_on(D + timedelta(days=1), stripe=False)
    return Invoice.objects.get(user=user, invoice_date=D)


def fresh(invoice: Invoice) -> Invoice:
    return Invoice.objects.get(pk=invoice.pk)


def effective(fake_stripe, method: str, path: str) -> list:
    """Requests Stripe applied (answered 200 the first time, not replays of a stored answer)."""
    return [r for r in fake_stripe.requests(method, path) if r.status == 200 and not r.replayed]


def test_invoice_goes_to_stripe_as_draft_items_finalize_pay_and_is_paid(fake_stripe, subscriber, now_after_d):
    customer_id = with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.PAID

    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.PAID and invoice.paid_at is not None
    assert invoice.stripe_customer_id == customer_id
    remote = fake_stripe.get(invoice.stripe_invoice_id)
    assert (remote["status"], remote["amount_paid"], remote["metadata"]["jsn_invoice_id"]) == (
        "paid",
        2000,
        str(invoice.pk),
    )
    (create,) = fake_stripe.requests("POST", "/v1/invoices")
    assert create.idempotency_key == f"jsn-inv-{invoice.pk}"
    line_ids = list(InvoiceLine.objects.filter(invoice=invoice).order_by("id").values_list("id", flat=True))
    items = fake_stripe.requests("POST", "/v1/invoiceitems")
    assert [r.idempotency_key for r in items] == [f"jsn-ii-{i}" for i in line_ids]
    assert all(r.params["invoice"] == invoice.stripe_invoice_id for r in items)
    assert items[0].params["period"] == {
        "start": str(int(local(D).timestamp())),
        "end": str(int(local(D + timedelta(days=1)).timestamp())),
    }
    (event,) = InvoiceEvent.objects.filter(invoice=invoice)
    assert (event.from_status, event.to_status, event.actor) == ("open", "paid", None)
    # A second sync finds nothing to do and sends nothing.
    requests_before = len(fake_stripe.log)
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.SETTLED
    assert len(fake_stripe.log) == requests_before


@pytest.mark.parametrize("card", ["declines", "none"])
def test_declined_or_missing_card_marks_failed_and_emails_the_portal_link(
    fake_stripe, subscriber, now_after_d, mailoutbox, eager_celery, django_capture_on_commit_callbacks, card
):
    if card == "declines":
        with_card(fake_stripe, subscriber, declines=True)
    invoice = local_invoice(subscriber)

    with django_capture_on_commit_callbacks(execute=True):
        assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.FAILED

    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.FAILED and invoice.paid_at is None
    assert InvoiceEvent.objects.get(invoice=invoice).to_status == "failed"
    (mail,) = mailoutbox
    assert mail.to == [subscriber.email]
    assert invoice.number in mail.subject
    assert "/billing/" in mail.body and "Manage billing" in mail.body
    # The next run does not charge again: Stripe's own retries own later attempts.
    with django_capture_on_commit_callbacks(execute=True):
        invoice_stripe_sync(invoice_id=invoice.pk)
        invoices_stripe_sync_pending()
    assert len(fake_stripe.requests("POST", PAY)) == 1
    assert len(mailoutbox) == 1


def test_stripe_down_leaves_the_invoice_for_the_next_run(fake_stripe, subscriber, now_after_d):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    fake_stripe.inject("connection_drop", "POST", "/v1/invoiceitems", times=None)

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.UNAVAILABLE
    assert fresh(invoice).status == Invoice.Status.OPEN
    assert fresh(invoice).stripe_invoice_id  # the draft id was stored before the items failed
    fake_stripe.clear_injections()

    assert invoices_stripe_sync_pending() == {"paid": 1}
    assert fresh(invoice).status == Invoice.Status.PAID


STEPS = [
    ("draft", "POST", "/v1/invoices"),
    ("first item", "POST", "/v1/invoiceitems"),
    ("finalize", "POST", r"/v1/invoices/in_\w+/finalize"),
    ("pay", "POST", PAY),
]


@pytest.mark.parametrize("kind", ["crash_after_success", "connection_drop", "server_error"])
@pytest.mark.parametrize(("step", "method", "path"), STEPS, ids=[s[0] for s in STEPS])
def test_a_failure_at_any_step_then_rerun_gives_one_invoice_one_item_per_line_one_charge(
    fake_stripe, subscriber, now_after_d, step, method, path, kind
):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber, prices=(500, 700, 900))
    fake_stripe.inject(kind, method, path, times=3)  # the SDK's retries fail too

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.UNAVAILABLE
    if kind == "server_error":
        fake_stripe.expire_idempotency_keys()  # Stripe replays a stored 500 until the key expires
    for _ in range(3):
        invoices_stripe_sync_pending()

    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.PAID
    (remote,) = fake_stripe.of_type("invoice")
    assert remote["id"] == invoice.stripe_invoice_id
    assert (remote["status"], remote["amount_paid"]) == ("paid", 2100)
    items = fake_stripe.of_type("invoiceitem")
    line_ids = sorted(str(i) for i in InvoiceLine.objects.filter(invoice=invoice).values_list("id", flat=True))
    assert sorted(i["metadata"]["jsn_line_id"] for i in items) == line_ids
    assert all(i["invoice"] == remote["id"] for i in items)
    assert all(r.params.get("invoice") == remote["id"] for r in fake_stripe.requests("POST", "/v1/invoiceitems"))
    assert len(effective(fake_stripe, "POST", PAY)) == 1
    assert remote["attempt_count"] == 1  # charged once
    assert InvoiceEvent.objects.filter(invoice=invoice, to_status="paid").count() == 1


def big_invoice(user, prices: dict[int, int]) -> Invoice:
    """A day with more lines than a Stripe invoice takes: {amount in cents: number of lines}."""
    total = sum(cents * n for cents, n in prices.items())
    invoice = Invoice.objects.create(
        user=user,
        invoice_date=D,
        number="JSN-BIG",
        currency="usd",
        subtotal_cents=total,
        total_cents=total,
        due_date=D + timedelta(days=1),
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice,
            description=f"Case {cents}/{n}",
            service_date=D,
            unit_amount_cents=cents,
            amount_cents=cents,
        )
        for cents, count in prices.items()
        for n in range(count)
    )
    return invoice


def test_more_than_250_lines_are_sent_as_one_item_per_price_and_charged_to_the_cent(
    fake_stripe, subscriber, now_after_d
):
    with_card(fake_stripe, subscriber)
    earlier = local_invoice(subscriber, prices=(1500,))  # the charge the credit corrects (D, unsent)
    Invoice.objects.filter(pk=earlier.pk).update(invoice_date=D - timedelta(days=1), number="JSN-EARLIER")
    invoice = big_invoice(subscriber, {1500: 200, 500: 50})
    charge = earlier.lines.get()
    InvoiceLine.objects.create(
        invoice=invoice,
        description="Credit",
        service_date=D,
        unit_amount_cents=-1500,
        amount_cents=-1500,
        credit_for=charge,
    )
    Invoice.objects.filter(pk=invoice.pk).update(subtotal_cents=325000 - 1500, total_cents=325000 - 1500)
    Invoice.objects.filter(pk=earlier.pk).update(status=Invoice.Status.VOID)  # keep this test to one invoice

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.PAID

    invoice = fresh(invoice)
    assert (invoice.status, invoice.stripe_sync_error) == (Invoice.Status.PAID, "")
    (remote,) = fake_stripe.of_type("invoice")  # 251 lines, one of them a credit
    assert remote["amount_paid"] == 200 * 1500 + 50 * 500 - 1500 == invoice.total_cents
    items = sorted(fake_stripe.of_type("invoiceitem"), key=lambda i: -i["amount"])
    assert [(i["amount"], i["description"]) for i in items] == [
        (300000, "200 case-days at 15.00 USD, 2026-06-10 (itemised on invoice JSN-BIG)"),
        (25000, "50 case-days at 5.00 USD, 2026-06-10 (itemised on invoice JSN-BIG)"),
        (-1500, "1 credits at 15.00 USD, 2026-06-10 (itemised on invoice JSN-BIG)"),
    ]
    assert len(effective(fake_stripe, "POST", PAY)) == 1


def test_a_grouped_invoice_interrupted_midway_resumes_without_duplicate_items(fake_stripe, subscriber, now_after_d):
    with_card(fake_stripe, subscriber)
    invoice = big_invoice(subscriber, {1500: 150, 1000: 100, 500: 30})
    # The first item's request reaches Stripe but its answer is lost; the retries fail too.
    fake_stripe.inject("crash_after_success", "POST", "/v1/invoiceitems", times=3)
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.UNAVAILABLE
    assert len(fake_stripe.of_type("invoiceitem")) == 1  # at Stripe, though we never heard so
    fake_stripe.expire_idempotency_keys()  # a day later: only the metadata finds what was already added

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.PAID

    assert sorted(i["amount"] for i in fake_stripe.of_type("invoiceitem")) == [15000, 100000, 225000]
    (remote,) = fake_stripe.of_type("invoice")
    assert remote["amount_paid"] == fresh(invoice).total_cents == 340000


def test_more_price_groups_than_stripe_takes_is_a_recorded_failure_and_nothing_is_sent(
    fake_stripe, subscriber, now_after_d
):
    with_card(fake_stripe, subscriber)
    invoice = big_invoice(subscriber, dict.fromkeys(range(100, 100 + 251), 1))  # 251 distinct prices

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.TOO_MANY_LINES

    invoice = fresh(invoice)
    assert "251 lines in 251 price groups" in invoice.stripe_sync_error
    assert "at most 250" in invoice.stripe_sync_error
    assert invoice.status == Invoice.Status.OPEN
    assert fake_stripe.requests("POST", "/v1/invoices") == []
    assert invoices_stripe_sync_pending() == {}  # skipped until staff clear it


def test_a_paid_invoice_never_moves_back(fake_stripe, subscriber, now_after_d):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    invoice_stripe_sync(invoice_id=invoice.pk)
    from billing.services import invoice_stripe_status_apply

    for status, event in [("open", "invoice.finalized"), ("open", "invoice.payment_failed")]:
        assert not invoice_stripe_status_apply(
            stripe_invoice_id=fresh(invoice).stripe_invoice_id, stripe_status=status, event_type=event, attempt_count=1
        )
    assert fresh(invoice).status == Invoice.Status.PAID
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == 1


def test_without_stripe_nothing_is_sent(settings, subscriber, now_after_d):
    settings.STRIPE_ENABLED = False
    invoice = local_invoice(subscriber)
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.DISABLED
    assert fresh(invoice).status == Invoice.Status.OPEN


def test_the_daily_run_sends_its_invoices_in_one_task(fake_stripe, eager_celery, django_capture_on_commit_callbacks):
    users = [UserFactory() for _ in range(3)]
    for user in users:
        with_card(fake_stripe, user)
        ClaimFactory(user=user, claimed_at=local(D, 9), daily_price_cents=1000)

    with frozen(local(D + timedelta(days=1), 0, 15)), django_capture_on_commit_callbacks(execute=True) as callbacks:
        summary = billing_run()

    assert summary.invoices == 3
    assert len(callbacks) == 1  # one task for the run, not one per invoice
    assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}
    assert len(fake_stripe.of_type("invoice")) == 3


def test_bill_daily_no_stripe_bills_locally_only(fake_stripe, subscriber, django_capture_on_commit_callbacks):
    with_card(fake_stripe, subscriber)
    ClaimFactory(user=subscriber, claimed_at=local(D, 9))
    requests_before = len(fake_stripe.log)

    with frozen(local(D + timedelta(days=1), 0, 15)), django_capture_on_commit_callbacks(execute=True) as callbacks:
        call_command("bill_daily", "--no-stripe", verbosity=0)

    assert Invoice.objects.get(user=subscriber).status == Invoice.Status.OPEN
    assert callbacks == []
    assert len(fake_stripe.log) == requests_before


def test_admin_retry_stripe_sync_clears_the_error_and_sends(fake_stripe, client, subscriber, now_after_d):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    Invoice.objects.filter(pk=invoice.pk).update(stripe_sync_error="Stripe refused (x): something")
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True))

    response = client.post(
        "/admin/billing/invoice/", {"action": "retry_stripe_sync", "_selected_action": [invoice.pk]}, follow=True
    )

    assert response.status_code == 200
    assert "Stripe sync paid" in response.content.decode()
    invoice = fresh(invoice)
    assert (invoice.status, invoice.stripe_sync_error) == ("paid", "")


def test_admin_retry_needs_change_permission(fake_stripe, client, subscriber, now_after_d):
    from django.contrib.auth.models import Permission

    invoice = local_invoice(subscriber)
    viewer = UserFactory(email="viewer@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_invoice", content_type__app_label="billing"))
    client.force_login(viewer)

    client.post("/admin/billing/invoice/", {"action": "retry_stripe_sync", "_selected_action": [invoice.pk]})

    assert fake_stripe.requests("POST", "/v1/invoices") == []
    assert fresh(invoice).status == Invoice.Status.OPEN
