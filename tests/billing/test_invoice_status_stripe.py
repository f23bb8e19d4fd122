"""Staff marking an invoice paid, failed or void when Stripe has it (against FakeStripe): Stripe first, then our row.

What a paying user and a careful operator would notice: an invoice marked paid is never charged afterwards (not by
the sync, not by Stripe's automatic collection), nothing is half-written when Stripe does not answer, and Stripe's
own status wins where it contradicts the request.
"""

import threading
from datetime import timedelta

import pytest
import stripe
from django.db import connection, transaction

from billing import stripe_gateway
from billing.models import Invoice, InvoiceEvent
from billing.services import (
    InvoiceTransitionRefused,
    StripeActionError,
    SyncOutcome,
    invoice_mark_failed,
    invoice_mark_paid,
    invoice_stripe_status_apply,
    invoice_stripe_sync,
    invoice_void,
    invoices_stripe_sync_pending,
)
from tests.billing.helpers import frozen, local
from tests.billing.test_stripe_sync import PAY, D, fresh, local_invoice, with_card
from tests.factories import UserFactory
from tests.fakes.stripe import API_VERSION, TEST_SECRET_KEY

pytestmark = pytest.mark.django_db

OPTS = {"api_key": TEST_SECRET_KEY, "stripe_version": API_VERSION}


@pytest.fixture(autouse=True)
def now_after_d():
    with frozen(local(D + timedelta(days=1), 0, 20)):
        yield


@pytest.fixture
def ops(db):
    return UserFactory(email="ops@example.com", role="staff")


def card_payments(fake_stripe) -> list:
    """Payment attempts on a card that reached Stripe (out-of-band "payments" are not charges)."""
    return [r for r in fake_stripe.requests("POST", PAY) if r.params.get("paid_out_of_band") != "true"]


def open_at_stripe(fake_stripe, user, *, declines: bool = False, prices=(1500, 500)) -> Invoice:
    """An invoice Stripe has finalized (auto-advance on) but not collected: the sync's payment never got through."""
    with_card(fake_stripe, user, declines=declines)
    invoice = local_invoice(user, prices=prices)
    if not declines:
        fake_stripe.inject("connection_drop", "POST", PAY, times=3)  # the SDK's retries too
    invoice_stripe_sync(invoice_id=invoice.pk)
    fake_stripe.clear_injections()
    invoice = fresh(invoice)
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "open"
    return invoice


def draft_at_stripe(fake_stripe, user) -> Invoice:
    """A sync that stopped after making the Stripe draft (its items never got through)."""
    with_card(fake_stripe, user)
    invoice = local_invoice(user, prices=(1500, 500, 700))
    fake_stripe.inject("connection_drop", "POST", "/v1/invoiceitems", times=None)
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.UNAVAILABLE
    fake_stripe.clear_injections()
    invoice = fresh(invoice)
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "draft"
    return invoice


# --- mark paid -----------------------------------------------------------------------------------------------------
def test_mark_paid_settles_it_out_of_band_at_stripe_and_nothing_charges_it_afterwards(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    stripe_id = invoice.stripe_invoice_id

    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="bank transfer 0815")

    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.PAID and invoice.paid_at is not None
    event = InvoiceEvent.objects.get(invoice=invoice, to_status="paid")
    assert (event.actor, event.from_status) == (ops, "open")
    assert event.reason == f"bank transfer 0815 (paid out of band at Stripe, {stripe_id})"
    (oob,) = fake_stripe.requests("POST", PAY)[-1:]
    assert (oob.params, oob.idempotency_key, oob.status) == ({"paid_out_of_band": "true"}, f"jsn-oob-{stripe_id}", 200)
    remote = stripe.Invoice.retrieve(stripe_id, expand=["amount_paid_off_stripe"], **OPTS)
    assert (remote["status"], remote["attempt_count"], remote["amount_paid_off_stripe"]) == ("paid", 0, 2000)

    # Nothing charges it afterwards: not Stripe's automatic collection, not the next sync.
    attempts_before = len(card_payments(fake_stripe))
    assert fake_stripe.collect_automatically() == []
    assert invoices_stripe_sync_pending() == {}
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.SETTLED
    assert len(card_payments(fake_stripe)) == attempts_before
    assert fake_stripe.get(stripe_id)["attempt_count"] == 0
    # Stripe's invoice.paid webhook for it (re-read by id) changes nothing more: one audit row, still paid.
    assert not invoice_stripe_status_apply(
        stripe_invoice_id=stripe_id, stripe_status="paid", event_type="invoice.paid", attempt_count=0
    )
    assert InvoiceEvent.objects.filter(invoice=invoice).count() == 1


def test_a_declined_invoice_marked_paid_is_not_retried_by_stripe(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber, declines=True)
    assert invoice.status == Invoice.Status.FAILED
    assert fake_stripe.collect_automatically() == [invoice.stripe_invoice_id]  # Stripe would keep retrying it

    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="paid by phone")

    assert fresh(invoice).status == Invoice.Status.PAID
    assert fake_stripe.collect_automatically() == []
    remote = fake_stripe.get(invoice.stripe_invoice_id)
    assert (remote["status"], remote["attempt_count"]) == ("paid", 2)  # the two declines before; no charge since


def test_a_stripe_draft_is_completed_finalized_without_collection_then_paid_out_of_band(fake_stripe, subscriber, ops):
    invoice = draft_at_stripe(fake_stripe, subscriber)
    stripe_id = invoice.stripe_invoice_id

    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="cash")

    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.PAID
    remote = fake_stripe.get(stripe_id)
    # The same Stripe invoice, for the full amount, as the customer's record; never charged.
    assert (remote["status"], remote["total"], remote["attempt_count"]) == ("paid", invoice.total_cents, 0)
    assert sorted(i["amount"] for i in fake_stripe.of_type("invoiceitem")) == [500, 700, 1500]
    (finalize,) = fake_stripe.requests("POST", r"/v1/invoices/in_\w+/finalize")
    assert finalize.params["auto_advance"] == "false"
    assert card_payments(fake_stripe) == []
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.SETTLED
    assert card_payments(fake_stripe) == []


@pytest.mark.parametrize("kind", ["connection_drop", "server_error"])
def test_stripe_unreachable_changes_nothing_and_a_later_retry_completes_it(fake_stripe, subscriber, ops, kind):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.inject(kind, "POST", PAY, times=3)

    with pytest.raises(StripeActionError) as error:
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="wire")

    assert error.value.code == "stripe_unavailable"
    assert "unchanged here" in str(error.value) and invoice.number in str(error.value)
    assert (fresh(invoice).status, fresh(invoice).paid_at) == (Invoice.Status.OPEN, None)
    assert not InvoiceEvent.objects.filter(invoice=invoice, to_status="paid").exists()
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "open"

    fake_stripe.clear_injections()
    if kind == "server_error":
        fake_stripe.expire_idempotency_keys()  # Stripe replays a stored 500 for its key's lifetime (24 h)
    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="wire")
    assert fresh(invoice).status == Invoice.Status.PAID
    assert InvoiceEvent.objects.get(invoice=invoice, to_status="paid").actor == ops


def test_stripe_applied_it_but_the_answer_was_lost_the_retry_completes_it_without_a_second_call(
    fake_stripe, subscriber, ops
):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.inject("crash_after_success", "POST", PAY, times=3)

    with pytest.raises(StripeActionError):
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="wire")
    assert fresh(invoice).status == Invoice.Status.OPEN  # not half-written: our row waits for Stripe's answer
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "paid"
    out_of_band_calls = len(fake_stripe.requests("POST", PAY))

    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="wire")

    assert fresh(invoice).status == Invoice.Status.PAID
    assert len(fake_stripe.requests("POST", PAY)) == out_of_band_calls  # Stripe said paid out of band: no call
    event = InvoiceEvent.objects.get(invoice=invoice, to_status="paid")
    assert event.actor == ops and "already settled without a charge" in event.reason


def test_stripe_had_collected_it_by_card_so_it_becomes_paid_and_staff_are_told(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.collect_automatically()  # Stripe charged the card; its webhook has not arrived yet

    with pytest.raises(InvoiceTransitionRefused) as refused:
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="bank transfer")

    assert (refused.value.code, refused.value.status) == ("already_paid_at_stripe", "paid")
    assert "refund one of the two payments" in str(refused.value) and "20.00 USD" in str(refused.value)
    invoice = fresh(invoice)
    assert invoice.status == Invoice.Status.PAID
    event = InvoiceEvent.objects.get(invoice=invoice, to_status="paid")
    assert event.actor is None and event.reason.startswith("Stripe says paid")
    assert not [r for r in fake_stripe.requests("POST", PAY) if r.params.get("paid_out_of_band") == "true"]


def test_stripe_had_voided_it_so_it_becomes_void_and_is_not_paid(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    stripe.Invoice.void_invoice(invoice.stripe_invoice_id, **OPTS)  # in the Dashboard; the webhook is late

    with pytest.raises(InvoiceTransitionRefused) as refused:
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="bank transfer")

    assert (refused.value.code, refused.value.status) == ("invalid_transition", "void")
    assert fresh(invoice).status == Invoice.Status.VOID


def test_an_invoice_stripe_does_not_have_is_marked_here_and_the_sync_never_sends_it(fake_stripe, subscriber, ops):
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)  # billed, not sent to Stripe yet
    requests_before = len(fake_stripe.log)

    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="paid in advance")

    assert fresh(invoice).status == Invoice.Status.PAID
    assert InvoiceEvent.objects.get(invoice=invoice).reason == "paid in advance"
    assert len(fake_stripe.log) == requests_before
    assert invoices_stripe_sync_pending() == {}
    assert invoice_stripe_sync(invoice_id=invoice.pk, force=True) == SyncOutcome.SETTLED
    assert fake_stripe.of_type("invoice") == [] and card_payments(fake_stripe) == []


def test_without_stripe_an_invoice_is_marked_here_as_before(settings, subscriber, ops):
    settings.STRIPE_ENABLED = False
    invoice = local_invoice(subscriber)
    invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="cheque")
    assert fresh(invoice).status == Invoice.Status.PAID


def test_an_invoice_at_stripe_is_not_marked_while_stripe_is_not_connected(fake_stripe, settings, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    settings.STRIPE_ENABLED = False

    with pytest.raises(StripeActionError) as error:
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="cheque")

    assert error.value.code == "stripe_not_connected" and invoice.stripe_invoice_id in str(error.value)
    assert fresh(invoice).status == Invoice.Status.OPEN


def test_a_sync_racing_a_local_mark_paid_deletes_its_draft_instead_of_charging(
    fake_stripe, subscriber, ops, monkeypatch
):
    """Staff mark the invoice paid (here only: Stripe has nothing yet) while the sync is creating its draft."""
    with_card(fake_stripe, subscriber)
    invoice = local_invoice(subscriber)
    real_create = stripe_gateway.invoice_draft_create

    def create_then_staff_act(**kwargs):
        stripe_id = real_create(**kwargs)
        invoice_mark_paid(invoice_id=invoice.pk, actor=ops, reason="paid at the counter")
        return stripe_id

    monkeypatch.setattr(stripe_gateway, "invoice_draft_create", create_then_staff_act)

    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.SETTLED

    invoice = fresh(invoice)
    assert (invoice.status, invoice.stripe_invoice_id) == (Invoice.Status.PAID, None)
    assert fake_stripe.of_type("invoice") == []  # the draft was deleted
    assert fake_stripe.of_type("invoiceitem") == [] and card_payments(fake_stripe) == []


def _hold_the_invoice(
    invoice_id: int, *, then_status: str
) -> tuple[threading.Thread, threading.Event, threading.Event]:
    """A thread standing in for staff in the middle of settling the invoice: its row lock held, as while they talk
    to Stripe; released (committing `then_status`) when `release` is set."""
    locked, release = threading.Event(), threading.Event()

    def staff() -> None:
        try:
            with transaction.atomic():
                Invoice.objects.select_for_update().get(pk=invoice_id)
                locked.set()
                release.wait(timeout=30)
                Invoice.objects.filter(pk=invoice_id).update(status=then_status)
        finally:
            connection.close()

    thread = threading.Thread(target=staff)
    thread.start()
    assert locked.wait(timeout=10)
    return thread, locked, release


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sync_waits_for_staff_settling_the_invoice_and_then_charges_nothing(fake_stripe):
    """RELIABILITY-style interleave: staff hold the invoice (settling it at Stripe); the sync's charge is observed
    waiting for that lock in pg_stat_activity; staff commit "paid"; the sync re-reads it and charges nothing."""
    from tests.claims.test_claim_concurrency import wait_until_waiting_on_lock

    invoice = open_at_stripe(fake_stripe, UserFactory(email="race@example.com"))
    charges_before = len(card_payments(fake_stripe))
    staff, _, release = _hold_the_invoice(invoice.pk, then_status=Invoice.Status.PAID)
    outcome, pid = [], []

    def sync() -> None:
        try:
            pid.append(connection.cursor().connection.info.backend_pid)
            outcome.append(invoice_stripe_sync(invoice_id=invoice.pk))
        finally:
            connection.close()

    syncing = threading.Thread(target=sync)
    syncing.start()
    try:
        while not pid:
            threading.Event().wait(0.01)
        wait_until_waiting_on_lock(pid[0])
    finally:
        release.set()
        staff.join(timeout=30)
        syncing.join(timeout=30)

    assert outcome == [SyncOutcome.SETTLED]
    assert len(card_payments(fake_stripe)) == charges_before
    assert fake_stripe.get(invoice.stripe_invoice_id)["attempt_count"] == 0


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_sync_gives_up_on_an_invoice_staff_hold_too_long_and_leaves_it_for_a_retry(fake_stripe):
    invoice = open_at_stripe(fake_stripe, UserFactory(email="race2@example.com"))
    charges_before = len(card_payments(fake_stripe))
    staff, _, release = _hold_the_invoice(invoice.pk, then_status=Invoice.Status.OPEN)
    try:
        assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.BUSY  # after lock_timeout, nothing charged
        assert len(card_payments(fake_stripe)) == charges_before
    finally:
        release.set()
        staff.join(timeout=30)
    assert invoice_stripe_sync(invoice_id=invoice.pk) == SyncOutcome.PAID  # the retry, once staff are done


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "session",
    [
        pytest.param([], id="lock_timeout"),
        # With no lock_timeout (DB_LOCK_TIMEOUT_MS=0) the wait ends by statement_timeout instead: the same 423.
        pytest.param(["SET lock_timeout = 0", "SET statement_timeout = '300ms'"], id="statement_timeout"),
    ],
)
def test_staff_changing_an_invoice_someone_else_holds_get_busy_not_a_500(fake_stripe, api_client, session):
    invoice = open_at_stripe(fake_stripe, UserFactory(email="held@example.com"))
    holder, _, release = _hold_the_invoice(invoice.pk, then_status=Invoice.Status.OPEN)
    try:
        with connection.cursor() as cursor:
            for sql in session:
                cursor.execute(sql)
        response = mark_paid(api_client, invoice)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")  # back to the connection's own (its startup options)
            cursor.execute("RESET statement_timeout")
        release.set()
        holder.join(timeout=30)

    assert response.status_code == 423 and response.json()["code"] == "busy"
    assert fresh(invoice).status == Invoice.Status.OPEN
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "open"  # Stripe was not asked


# --- mark failed -----------------------------------------------------------------------------------------------------
def test_mark_failed_writes_nothing_at_stripe_which_keeps_collecting(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    posts_before = len(fake_stripe.requests("POST"))

    invoice_mark_failed(invoice_id=invoice.pk, actor=ops, reason="customer says the card was stolen")

    assert fresh(invoice).status == Invoice.Status.FAILED
    event = InvoiceEvent.objects.get(invoice=invoice, to_status="failed")
    assert event.actor == ops and event.reason.startswith("customer says the card was stolen (nothing sent")
    assert len(fake_stripe.requests("POST")) == posts_before
    # Stripe's retries still collect it, and that success moves failed → paid (forward).
    fake_stripe.collect_automatically()
    assert invoice_stripe_status_apply(
        stripe_invoice_id=invoice.stripe_invoice_id, stripe_status="paid", event_type="invoice.paid", attempt_count=1
    )
    assert fresh(invoice).status == Invoice.Status.PAID


def test_mark_failed_on_an_invoice_stripe_collected_takes_stripes_status_instead(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.collect_automatically()

    with pytest.raises(InvoiceTransitionRefused) as refused:
        invoice_mark_failed(invoice_id=invoice.pk, actor=ops, reason="looks unpaid")

    assert refused.value.status == "paid" and "Stripe says" in str(refused.value)
    assert fresh(invoice).status == Invoice.Status.PAID


def test_mark_failed_with_stripe_unreachable_changes_nothing(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.inject("connection_drop", "GET", r"/v1/invoices/in_\w+", times=None)

    with pytest.raises(StripeActionError) as error:
        invoice_mark_failed(invoice_id=invoice.pk, actor=ops, reason="x")

    assert error.value.code == "stripe_unavailable"
    assert fresh(invoice).status == Invoice.Status.OPEN


# --- void ------------------------------------------------------------------------------------------------------------
def test_void_voids_at_stripe_so_nothing_collects_it(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)

    invoice_void(invoice_id=invoice.pk, actor=ops, reason="billed in error")

    assert fresh(invoice).status == Invoice.Status.VOID
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "void"
    assert fake_stripe.collect_automatically() == []


def test_void_of_a_stripe_draft_deletes_the_draft(fake_stripe, subscriber, ops):
    invoice = draft_at_stripe(fake_stripe, subscriber)
    stripe_id = invoice.stripe_invoice_id

    invoice_void(invoice_id=invoice.pk, actor=ops, reason="billed in error")

    invoice = fresh(invoice)
    assert (invoice.status, invoice.stripe_invoice_id) == (Invoice.Status.VOID, None)
    assert stripe_id not in fake_stripe.objects
    assert InvoiceEvent.objects.get(invoice=invoice).reason == f"billed in error (Stripe draft {stripe_id} deleted)"


def test_void_of_an_invoice_stripe_collected_is_refused_and_it_becomes_paid(fake_stripe, subscriber, ops):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.collect_automatically()

    with pytest.raises(InvoiceTransitionRefused) as refused:
        invoice_void(invoice_id=invoice.pk, actor=ops, reason="billed in error")

    assert refused.value.code == "already_paid_at_stripe" and "refund it in Stripe" in str(refused.value)
    assert fresh(invoice).status == Invoice.Status.PAID


# --- the back office and the staff API --------------------------------------------------------------------------------
@pytest.fixture
def boss(client):
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True))
    return client


def test_admin_mark_paid_through_stripe_and_a_clear_message_when_stripe_is_down(fake_stripe, subscriber, boss):
    reachable = open_at_stripe(fake_stripe, subscriber)
    down = open_at_stripe(fake_stripe, UserFactory(email="second@example.com"))
    fake_stripe.inject("connection_drop", "GET", rf"/v1/invoices/{down.stripe_invoice_id}", times=None)

    page = boss.post(
        "/admin/billing/invoice/",
        {"action": "mark_paid", "_selected_action": [reachable.pk, down.pk], "apply": "1", "reason": "wire"},
        follow=True,
    )

    assert page.status_code == 200
    html = page.content.decode()
    assert "Mark paid: 1 invoice(s)." in html
    assert f"{down.number}: Stripe did not answer" in html and "it is unchanged here" in html  # by its number
    assert (fresh(reachable).status, fresh(down).status) == (Invoice.Status.PAID, Invoice.Status.OPEN)
    assert fake_stripe.get(reachable.stripe_invoice_id)["status"] == "paid"


def test_control_room_reports_what_stripe_had_done_instead(fake_stripe, subscriber, boss):
    invoice = open_at_stripe(fake_stripe, subscriber)
    fake_stripe.collect_automatically()

    page = boss.post(
        "/admin/billing/",
        {"op": "status", "to_status": "paid", "reason": "wire", "_selected_action": [invoice.pk]},
        follow=True,
    )

    assert page.status_code == 200
    assert "Stripe had already collected invoice" in page.content.decode()
    assert fresh(invoice).status == Invoice.Status.PAID


def mark_paid(api_client, invoice: Invoice):
    staff = UserFactory(email="api-ops@example.com", is_superuser=True, role="staff")
    api_client.force_authenticate(staff)
    return api_client.post(
        f"/api/v3/admin/billing/invoices/{invoice.pk}/mark-paid", {"reason": "bank transfer"}, format="json"
    )


def test_api_mark_paid_goes_through_stripe(fake_stripe, subscriber, api_client):
    invoice = open_at_stripe(fake_stripe, subscriber)

    response = mark_paid(api_client, invoice)

    assert response.status_code == 200 and response.json()["status"] == "paid"
    assert fake_stripe.get(invoice.stripe_invoice_id)["status"] == "paid"


@pytest.mark.parametrize(
    ("situation", "status_code", "code"),
    [
        ("stripe_down", 502, "stripe_unavailable"),
        ("collected_by_card", 409, "already_paid_at_stripe"),
        ("not_connected", 409, "stripe_not_connected"),
    ],
)
def test_api_mark_paid_answers_stripe_trouble_with_a_code_not_a_500(
    fake_stripe, settings, subscriber, api_client, situation, status_code, code
):
    invoice = open_at_stripe(fake_stripe, subscriber)
    if situation == "stripe_down":
        fake_stripe.inject("connection_drop", "GET", r"/v1/invoices/in_\w+", times=None)
    elif situation == "collected_by_card":
        fake_stripe.collect_automatically()
    else:
        settings.STRIPE_ENABLED = False

    response = mark_paid(api_client, invoice)

    assert response.status_code == status_code
    body = response.json()
    assert body["code"] == code and invoice.number in body["detail"]
    expected = Invoice.Status.PAID if situation == "collected_by_card" else Invoice.Status.OPEN
    assert fresh(invoice).status == expected
