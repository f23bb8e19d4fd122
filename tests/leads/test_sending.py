"""Sending: the PDF by e-mail once per (lead, subscriber), eligibility re-checked, crashes never duplicate (L2, L3)."""

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from leads.models import Delivery, LeadEvent, PlzSubscription
from leads.samples import lead_pdf
from leads.services import (
    AMBIGUOUS_AFTER,
    LeadError,
    deliveries_ambiguous_count,
    deliveries_send_due,
    delivery_confirm_sent,
    delivery_resend,
    lead_import_pdf,
)
from tests.leads.backends import CrashAfterSendBackend, SimulatedCrash, outbox_pairs
from tests.leads.reliability import run_l2, run_l3

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_sole_subscriber_gets_the_pdf_by_mail_with_a_clear_subject_and_body(grant):
    sub = grant("10115")
    content = lead_pdf(plz="10115", city="Berlin", ref="123")
    with time_machine.travel(T0, tick=False):
        lead = lead_import_pdf(content=content, filename="a.pdf").lead
        report = deliveries_send_due()
    assert report.sent == 1
    [message] = mail.outbox
    assert message.to == [sub.user.email]
    assert message.subject == "[JSN] New lead for PLZ 10115 — exclusive for you"
    assert message.body.startswith("Hello,\n\nA new lead has arrived") and message.body.endswith("\n\n— JSN\n")
    assert "PLZ: 10115" in message.body
    assert "Received: 2026-03-02 08:00" in message.body
    assert "only agent subscribed" in message.body
    [(name, attached, mimetype)] = message.attachments
    assert (name, attached, mimetype) == (f"lead-{lead.pk}-plz-10115.pdf", content, "application/pdf")
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SENT
    assert delivery.sent_at == T0
    assert delivery.message_id == message.extra_headers["Message-ID"]


@pytest.mark.django_db
def test_first_recipient_now_others_after_72_hours(grant):
    subs = [grant("10115") for _ in range(3)]
    with time_machine.travel(T0, tick=False) as clock:
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        deliveries_send_due()
        assert len(mail.outbox) == 1
        first = mail.outbox[0]
        assert "exclusive for you for 72 hours" in first.subject
        assert "until 2026-03-05 08:00" in first.body
        clock.move_to(T0 + timedelta(hours=71, minutes=59))
        assert deliveries_send_due().sent == 0
        clock.move_to(T0 + timedelta(hours=72))
        assert deliveries_send_due().sent == 2
    assert sorted(m.to[0] for m in mail.outbox) == sorted(s.user.email for s in subs)
    assert "offered exclusively to another agent for 72 hours" in mail.outbox[1].body


@pytest.mark.django_db
def test_unpaid_or_canceled_at_send_time_gets_nothing(grant, staff_user):
    first, unpaid, canceled = (grant("10115") for _ in range(3))
    with time_machine.travel(T0, tick=False) as clock:
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        deliveries_send_due()
        PlzSubscription.objects.filter(pk=unpaid.pk).update(status=PlzSubscription.Status.UNPAID)
        PlzSubscription.objects.filter(pk=canceled.pk).update(status=PlzSubscription.Status.CANCELED)
        clock.move_to(T0 + timedelta(hours=73))
        report = deliveries_send_due()
    assert (report.sent, report.skipped) == (0, 2)
    assert [m.to[0] for m in mail.outbox] == [first.user.email]
    skipped = Delivery.objects.filter(status=Delivery.Status.SKIPPED)
    assert {d.subscriber_id for d in skipped} == {unpaid.user_id, canceled.user_id}
    assert all("No active subscription for PLZ 10115" in d.last_error for d in skipped)
    # A staff re-send does not bypass the payment check.
    delivery_resend(actor=staff_user, delivery=skipped.get(subscriber=unpaid.user))
    assert deliveries_send_due().sent == 0
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_refused_mail_is_retried_then_failed(grant, settings):
    grant("10115")
    settings.EMAIL_BACKEND = "tests.leads.backends.RefusingBackend"
    with time_machine.travel(T0, tick=False) as clock:
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        for minute in range(0, 60, 1):
            clock.move_to(T0 + timedelta(minutes=minute))
            deliveries_send_due()
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.FAILED
    assert delivery.attempts == 3
    assert "SMTP 554" in delivery.last_error


@pytest.mark.django_db
def test_a_timeout_during_the_hand_over_is_never_retried_but_left_for_staff(grant, settings):
    grant("10115")
    settings.EMAIL_BACKEND = "tests.leads.backends.TimeoutAfterDataBackend"
    with time_machine.travel(T0, tick=False) as clock:
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        for minute in range(0, 60, 1):
            clock.move_to(T0 + timedelta(minutes=minute))
            deliveries_send_due()
    assert len(mail.outbox) == 1  # one hand-over, whatever happened after it
    delivery = Delivery.objects.get()
    assert delivery.status == Delivery.Status.SENDING
    assert delivery.last_error.startswith("ambiguous: TimeoutError")
    assert deliveries_ambiguous_count(now=T0 + timedelta(hours=2)) == 1


@pytest.mark.django_db
def test_crash_at_the_send_never_duplicates_and_is_surfaced(grant, settings, staff_user):
    """L3: the worker 'dies' right after the provider accepted the message, 50 times over."""
    subs = [grant("10115") for _ in range(5)]
    settings.EMAIL_BACKEND = "tests.leads.backends.CrashAfterSendBackend"
    CrashAfterSendBackend.crash_every = 1
    with time_machine.travel(T0, tick=False) as clock:
        for i in range(10):
            lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref=f"L3-{i}"), filename="a.pdf")
        clock.move_to(T0 + timedelta(hours=72))
        crashes = 0
        for run in range(200):
            clock.move_to(T0 + timedelta(hours=72, minutes=6 * run))  # later runs: the crashed run's lease expired
            try:
                deliveries_send_due()
            except SimulatedCrash:
                crashes += 1
            if not Delivery.objects.filter(status__in=["planned", "queued"]).exists():
                break
        assert crashes == 50  # 10 leads x 5 subscribers, each send crashed once
        clock.move_to(T0 + timedelta(days=10))
        for _ in range(3):
            deliveries_send_due()  # later runs must not re-send the ambiguous ones
        assert deliveries_ambiguous_count() == 50
    pairs = outbox_pairs()
    assert len(pairs) == 50
    assert max(Counter(pairs).values()) == 1
    assert Delivery.objects.filter(status=Delivery.Status.SENDING).count() == 50
    assert {d.subscriber_id for d in Delivery.objects.all()} == {s.user_id for s in subs}
    # Staff checked the provider's log and confirm one; it leaves the ambiguous list, audited.
    delivery = Delivery.objects.filter(status=Delivery.Status.SENDING).first()
    delivery_confirm_sent(actor=staff_user, delivery=delivery)
    assert LeadEvent.objects.get(action="marked_sent").actor == staff_user
    assert deliveries_ambiguous_count() == 49


@pytest.mark.django_db
def test_staff_resend_is_audited_and_sends_once_more(grant, staff_user):
    sub = grant("10115")
    with time_machine.travel(T0, tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        deliveries_send_due()
        delivery = Delivery.objects.get()
        delivery_resend(actor=staff_user, delivery=delivery)
        deliveries_send_due()
        deliveries_send_due()
    assert [m.to[0] for m in mail.outbox] == [sub.user.email, sub.user.email]
    event = LeadEvent.objects.get(action="resent")
    assert (event.actor, event.delivery_id, event.detail["previous_status"]) == (staff_user, delivery.pk, "sent")


@pytest.mark.django_db
def test_resend_refused_while_pending_or_in_flight(grant, staff_user):
    grant("10115")
    grant("10115")
    with time_machine.travel(T0, tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        pending = Delivery.objects.get(position="other")
        with pytest.raises(LeadError):
            delivery_resend(actor=staff_user, delivery=pending)
        first = Delivery.objects.get(position="first")
        Delivery.objects.filter(pk=first.pk).update(status="sending", sending_started_at=timezone.now())
        with pytest.raises(LeadError):
            delivery_resend(actor=staff_user, delivery=first)
    with time_machine.travel(T0 + AMBIGUOUS_AFTER + timedelta(seconds=1), tick=False):
        delivery_resend(actor=staff_user, delivery=first)  # ambiguous now: staff may decide to send again


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_l2_many_leads_many_subscribers_overlapping_runs_and_unpaid_midway(staff_user):
    """L2 (scaled to run in `make test`): 200 leads x 50 subscribers in 10 PLZs over simulated hourly ticks with two
    overlapping send runs per tick; 10% turn unpaid midway. 0 duplicates, 0 sends to the unpaid after that moment,
    every eligible pair on time. The full 500 x 200 run is tests/stress/test_leads_full_scale.py (marker `stress`).
    """
    figures = run_l2(staff_user=staff_user, leads=200, subscribers=50)
    assert (figures.leads, figures.subscribers, figures.unpaid) == (200, 50, 5)
    assert figures.deliveries > 200 * 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_l3_worker_process_killed_at_the_send_never_duplicates(staff_user, settings, tmp_path):
    """L3 with a real process kill (5 kills here; 50 in tests/stress/test_leads_full_scale.py): the sending job
    runs in a child process that is SIGKILLed at the e-mail send and re-run after each kill."""
    settings.EMAIL_BACKEND = "tests.leads.backends.BlockingSpoolBackend"
    spool = tmp_path / "spool"
    spool.mkdir()
    figures = run_l3(staff_user=staff_user, kills=5, spool_dir=str(spool))
    assert (figures.kills, figures.ambiguous) == (5, 5)
    assert figures.killed_after_accept == figures.confirmed_by_staff == 3
