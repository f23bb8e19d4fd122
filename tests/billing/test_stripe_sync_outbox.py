"""R2 for billing: the Stripe sync after a billing run is promised through the outbox, so a broker outage at the
run's commit delays it instead of leaving the invoices for the next day's run; it happens once after recovery.

The broker is really unreachable here (a closed port); Stripe is FakeStripe.
"""

import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection

from billing.models import Invoice
from billing.services import STRIPE_SYNC, billing_run, invoices_stripe_sync_pending
from billing.stripe_sync import SYNC_LOCK_NAMESPACE
from outbox import services as outbox
from outbox.models import OutboxMessage
from outbox.tasks import deliver_outbox_task
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import frozen, local
from tests.billing.test_stripe_sync import PAY, D, with_card
from tests.factories import UserFactory
from tests.outbox.test_outbox import broker_down  # noqa: F401  (fixture)

RUN_AT = local(D + timedelta(days=1), 0, 15)
pytestmark = pytest.mark.usefixtures("broker_down")  # nudges fail: only the sweep delivers, as during an outage


def subscribers_with_claims(fake_stripe, n: int = 3) -> list:
    users = [UserFactory(email=f"r2-{i}@example.com") for i in range(n)]
    for user in users:
        with_card(fake_stripe, user)
        ClaimFactory(user=user, claimed_at=local(D, 9), daily_price_cents=1000)
    return users


def charges(fake_stripe) -> list:
    """Card payments Stripe applied (not replays of a stored answer)."""
    return [r for r in fake_stripe.requests("POST", PAY) if r.status == 200 and not r.replayed]


@pytest.mark.django_db(transaction=True)
def test_broker_down_at_the_runs_commit_then_the_sweep_syncs_every_invoice_once(fake_stripe, caplog):
    caplog.set_level(logging.WARNING, logger="outbox.services")
    subscribers_with_claims(fake_stripe)

    with frozen(RUN_AT):
        summary = billing_run()

    assert summary.invoices == 3
    assert "broker unavailable" in caplog.text  # the after-commit nudge failed
    message = OutboxMessage.objects.get(kind=STRIPE_SYNC)
    assert message.sent_at is None and message.payload == {"run_id": summary.run_id}
    assert set(Invoice.objects.values_list("status", flat=True)) == {"open"}
    assert fake_stripe.of_type("invoice") == []  # nothing reached Stripe yet

    # The broker is back (Beat's sweep runs as a Celery task): the promised sync runs.
    with frozen(RUN_AT + timedelta(minutes=1)):
        assert outbox.outbox_sweep() == 1

    assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}
    assert len(fake_stripe.of_type("invoice")) == 3 and len(charges(fake_stripe)) == 3
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 1

    # Exactly once: another sweep, a late duplicate nudge and a second run send nothing more.
    requests_before = len(fake_stripe.log)
    with frozen(RUN_AT + timedelta(minutes=2)):
        assert outbox.outbox_sweep() == 0
        assert deliver_outbox_task([message.pk]) == 0
        assert billing_run().invoices == 0
    assert len(fake_stripe.log) == requests_before
    assert not OutboxMessage.objects.filter(kind=STRIPE_SYNC, sent_at__isnull=True).exists()


@pytest.mark.django_db(transaction=True)
def test_stripe_down_when_the_sync_runs_keeps_it_due_and_a_later_sweep_finishes_it(fake_stripe):
    subscribers_with_claims(fake_stripe, n=2)
    with frozen(RUN_AT):
        billing_run()
    fake_stripe.inject("connection_drop", "POST", "/v1/invoices", times=None)

    with frozen(RUN_AT + timedelta(minutes=1)):
        assert outbox.outbox_sweep() == 0

    message = OutboxMessage.objects.get(kind=STRIPE_SYNC)
    assert message.sent_at is None and message.attempts == 1
    assert "left for a retry" in message.last_error and "unavailable" in message.last_error
    assert set(Invoice.objects.values_list("status", flat=True)) == {"open"}

    fake_stripe.clear_injections()
    with frozen(RUN_AT + timedelta(minutes=1, seconds=30)):
        assert outbox.outbox_sweep() == 0  # backing off: not yet
    with frozen(RUN_AT + timedelta(minutes=3)):
        assert outbox.outbox_sweep() == 1

    assert set(Invoice.objects.values_list("status", flat=True)) == {"paid"}
    assert len(charges(fake_stripe)) == 2 and len(fake_stripe.of_type("invoice")) == 2


@pytest.mark.django_db(transaction=True)
def test_a_run_that_bills_nothing_new_still_syncs_what_a_crashed_run_left(fake_stripe):
    subscribers_with_claims(fake_stripe, n=1)
    with frozen(RUN_AT):
        billing_run(stripe=False)  # stands in for a run killed after its invoices committed
    assert not OutboxMessage.objects.filter(kind=STRIPE_SYNC).exists()

    with frozen(RUN_AT + timedelta(minutes=5)):
        assert billing_run().invoices == 0
        assert OutboxMessage.objects.filter(kind=STRIPE_SYNC, sent_at__isnull=True).count() == 1
        assert outbox.outbox_sweep() == 1
    assert Invoice.objects.get().status == "paid"


@pytest.mark.django_db(transaction=True)
def test_without_stripe_or_with_nothing_to_send_no_sync_is_promised(settings, fake_stripe):
    with frozen(RUN_AT):
        billing_run()  # nothing billed, nothing waiting
    subscribers_with_claims(fake_stripe, n=1)
    settings.STRIPE_ENABLED = False
    with frozen(RUN_AT):
        assert billing_run().invoices == 1
    assert not OutboxMessage.objects.filter(kind=STRIPE_SYNC).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_walk_at_a_time_a_second_one_leaves_the_message_due(fake_stripe):
    subscribers_with_claims(fake_stripe, n=1)
    with frozen(RUN_AT):
        billing_run()
    locked, release = threading.Event(), threading.Event()

    def another_walk() -> None:  # holds the walk's lock as a running sync does
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(%s, 0)", [SYNC_LOCK_NAMESPACE])
                locked.set()
                release.wait(timeout=30)
                cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [SYNC_LOCK_NAMESPACE])
        finally:
            connection.close()

    holder = threading.Thread(target=another_walk)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        assert invoices_stripe_sync_pending() == {"already_running": 1}
        with frozen(RUN_AT + timedelta(minutes=1)):
            assert outbox.outbox_sweep() == 0
        assert fake_stripe.of_type("invoice") == []
    finally:
        release.set()
        holder.join(timeout=30)

    assert "already_running" in OutboxMessage.objects.get(kind=STRIPE_SYNC).last_error
    with frozen(RUN_AT + timedelta(minutes=5)):
        assert outbox.outbox_sweep() == 1
    assert Invoice.objects.get().status == "paid"
