"""The transactional outbox (R2's "queued work is delivered once after recovery"), at unit level.

The broker is really unreachable here (a closed port), the e-mails are Django's locmem outbox, and the concurrency
test uses real threads on PostgreSQL.
"""

import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from claims import services
from claims.models import Claim
from jsn.celery import app as celery_app
from outbox import services as outbox
from outbox.models import OutboxMessage
from outbox.tasks import deliver_outbox_task
from tests.claims.conftest import run_in_threads
from tests.factories import CaseFactory, UserFactory


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def broker_down() -> Iterator[None]:
    """Celery publishes to a port where nothing listens, as when Redis is down."""
    before = celery_app.conf.broker_url
    celery_app.conf.broker_url = f"redis://127.0.0.1:{closed_port()}/0"
    yield
    celery_app.conf.broker_url = before


def staff_release(*, owner, staff, reason: str = "Duplicate account") -> Claim:
    case = CaseFactory()
    services.claim_cases(user=owner, case_ids=[case.pk])
    services.claim_release(actor=staff, case_ids=[case.pk], reason=reason)
    return Claim.objects.get(case=case)


@pytest.mark.django_db
def test_broker_down_keeps_the_notice_and_the_sweep_sends_it_once(
    subscriber, staff_user, broker_down, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.WARNING, logger="outbox.services")
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        claim = staff_release(owner=subscriber, staff=staff_user)
    assert time.monotonic() - started < 2, "a broker outage must not hold up the request that made the change"
    assert len(callbacks) == 1  # the nudge ran, and failed
    assert "broker unavailable" in caplog.text

    claim.refresh_from_db()
    assert claim.status == Claim.Status.RELEASED  # the change itself committed
    message = OutboxMessage.objects.get()
    assert message.sent_at is None and message.kind == services.CLAIM_NOTICES
    assert mail.outbox == []

    assert outbox.outbox_sweep() == 1
    assert [m.to for m in mail.outbox] == [[subscriber.email]]
    assert "Duplicate account" in mail.outbox[0].body
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 1

    # A second sweep and a late duplicate nudge (the broker came back and delivered an old task) send nothing.
    assert outbox.outbox_sweep() == 0
    assert deliver_outbox_task([message.pk]) == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_the_nudge_delivers_at_once_when_the_broker_is_up(
    subscriber, staff_user, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        staff_release(owner=subscriber, staff=staff_user)
    assert [m.to for m in mailoutbox] == [[subscriber.email]]
    assert OutboxMessage.objects.get().sent_at is not None
    assert outbox.outbox_sweep() == 0 and len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_rolled_back_change_promises_nothing(subscriber, staff_user, django_capture_on_commit_callbacks):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        services.claim_release(actor=staff_user, case_ids=[case.pk], reason="x")
        raise RuntimeError("the caller's transaction fails after the release")
    assert callbacks == [] and not OutboxMessage.objects.exists()
    assert outbox.outbox_sweep() == 0 and mail.outbox == []


@pytest.mark.django_db
def test_one_message_per_recipient_so_a_retry_never_repeats_the_other(subscriber, other_subscriber, staff_user):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    services.claim_reassign(actor=staff_user, claim=Claim.objects.get(case=case), to_user=other_subscriber, reason="T")
    assert sorted(m.payload["user_id"] for m in OutboxMessage.objects.all()) == sorted(
        [subscriber.pk, other_subscriber.pk]
    )

    real_send = mail.send_mail

    def refuse_other(subject, body, from_email, to, **kwargs):
        if to == [other_subscriber.email]:
            raise ConnectionRefusedError("SMTP server refused the connection")
        return real_send(subject, body, from_email, to, **kwargs)

    with mock.patch("jsn.lib.mail.send_mail", side_effect=refuse_other):
        assert outbox.outbox_sweep() == 1
    failed = OutboxMessage.objects.get(sent_at__isnull=True)
    assert failed.payload["user_id"] == other_subscriber.pk and failed.attempts == 1
    assert "SMTP server refused" in failed.last_error
    assert failed.next_attempt_at > timezone.now()  # backed off: the next sweep does not hammer the server
    assert outbox.outbox_sweep() == 0

    later = timezone.now() + timedelta(minutes=2)
    assert outbox.outbox_sweep(now=later) == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted([subscriber.email, other_subscriber.email])  # once each


@pytest.mark.django_db
def test_staff_retry_makes_a_message_that_gave_up_due_again(subscriber, staff_user):
    staff_release(owner=subscriber, staff=staff_user)
    message = OutboxMessage.objects.get()
    OutboxMessage.objects.filter(pk=message.pk).update(attempts=outbox.MAX_ATTEMPTS, last_error="gave up")
    assert outbox.outbox_sweep(now=timezone.now() + timedelta(days=1)) == 0  # no longer retried on its own
    assert outbox.outbox_retry(message_ids=[message.pk]) == 1
    assert outbox.outbox_sweep() == 1 and len(mail.outbox) == 1


@pytest.mark.django_db(transaction=True)
def test_enqueue_outside_a_transaction_is_refused():
    with pytest.raises(outbox.OutboxError):
        outbox.outbox_enqueue(kind=services.CLAIM_NOTICES, payload={"event_ids": []})
    assert not OutboxMessage.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_nudges_and_sweeps_racing_send_each_notice_once(broker_down):
    """8 threads (4 nudges for every message, 4 sweeps) race for 12 messages while each send takes 50 ms: every
    owner gets exactly one e-mail. (The broker is down while the releases commit, so no nudge delivered early.)"""
    staff = UserFactory(email="staff-race@example.com", role="staff")
    owners = [UserFactory(email=f"owner{i}@example.com") for i in range(12)]
    for i, owner in enumerate(owners):
        staff_release(owner=owner, staff=staff, reason=f"race-{i}")
    ids = list(OutboxMessage.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == 12

    real_send = mail.send_mail
    sends = []
    lock = threading.Lock()

    def slow_send(subject, body, from_email, to, **kwargs):
        time.sleep(0.05)
        with lock:
            sends.append(to[0])
        return real_send(subject, body, from_email, to, **kwargs)

    barrier = threading.Barrier(8)

    def work(i: int) -> int:
        barrier.wait()
        if i % 2:
            return outbox.outbox_sweep()
        return deliver_outbox_task(ids if i % 4 else list(reversed(ids)))

    mail.outbox = []
    with mock.patch("jsn.lib.mail.send_mail", side_effect=slow_send):
        delivered = run_in_threads(8, work)

    assert sum(delivered) == 12
    assert sorted(sends) == sorted(o.email for o in owners)  # 12 e-mails, one per owner
    assert len(mail.outbox) == 12
    assert not OutboxMessage.objects.filter(sent_at__isnull=True).exists()


# --- handlers with a lease: long jobs that run outside the delivery transaction --------------------------------------
LEASED = "tests.leased_job"
LEASE = timedelta(minutes=10)
leased_runs: list[dict] = []


class WorkerKilled(BaseException):
    """Stands in for SIGKILL: nothing after it runs, no handler records a failure."""


@outbox.outbox_handler(LEASED, lease=LEASE)
def leased_job(*, n: int, fail: str = "") -> None:
    leased_runs.append({"n": n, "in_transaction": transaction.get_connection().in_atomic_block})
    if fail == "error":
        raise RuntimeError("the job failed")
    if fail == "kill":
        raise WorkerKilled()


def _enqueue_leased(**payload) -> OutboxMessage:
    with transaction.atomic():
        return outbox.outbox_enqueue(kind=LEASED, payload=payload)


@pytest.fixture
def runs() -> Iterator[list[dict]]:
    leased_runs.clear()
    yield leased_runs
    leased_runs.clear()


@pytest.mark.django_db(transaction=True)
def test_a_leased_handler_runs_outside_any_transaction_and_is_marked_sent_once(runs, broker_down):
    message = _enqueue_leased(n=1)

    assert outbox.outbox_sweep() == 1

    assert runs == [{"n": 1, "in_transaction": False}]  # its own steps commit as they go
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 1 and message.last_error == ""
    assert outbox.outbox_sweep() == 0 and deliver_outbox_task([message.pk]) == 0
    assert len(runs) == 1


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_inside_a_leased_handler_leaves_it_to_the_sweep_after_the_lease(runs, broker_down):
    message = _enqueue_leased(n=2, fail="kill")
    with pytest.raises(WorkerKilled):
        outbox.outbox_deliver(message_id=message.pk)
    message.refresh_from_db()
    assert message.sent_at is None and message.attempts == 1  # the claim was committed before the handler ran

    # While the lease lasts, nudges and sweeps leave it alone (the job may still be running elsewhere).
    assert deliver_outbox_task([message.pk]) == 0
    assert outbox.outbox_sweep(now=timezone.now() + LEASE - timedelta(seconds=5)) == 0
    assert len(runs) == 1

    OutboxMessage.objects.filter(pk=message.pk).update(payload={"n": 2})  # the next run gets through
    assert outbox.outbox_sweep(now=timezone.now() + LEASE + timedelta(seconds=1)) == 1
    message.refresh_from_db()
    assert message.sent_at is not None and message.attempts == 2
    assert [r["n"] for r in runs] == [2, 2]


@pytest.mark.django_db(transaction=True)
def test_a_failing_leased_handler_backs_off_like_any_other(runs, broker_down):
    message = _enqueue_leased(n=3, fail="error")

    assert outbox.outbox_sweep() == 0

    message.refresh_from_db()
    assert message.sent_at is None and message.attempts == 1  # counted once, not once for the claim and again
    assert "RuntimeError: the job failed" in message.last_error
    assert timedelta(seconds=50) < message.next_attempt_at - timezone.now() <= timedelta(minutes=1)
    assert outbox.outbox_sweep() == 0 and len(runs) == 1
