"""Retention: raw Stripe webhook bodies and headers (and dj-stripe's copy of the event payload) are emptied after
30 days; the rows stay for the audit, and an emptied event still stops a replay of the same event."""

from datetime import timedelta

import pytest
import time_machine
from djstripe.models import Event, WebhookEventTrigger

from billing.retention import webhook_bodies_drop
from billing.tasks import drop_old_webhook_bodies_task
from tests.stripe.test_webhooks import (
    _bad_deliveries,
    default_payment_method_writes,
    deliver,
    deliver_event,
    has_default_card,
)

pytestmark = pytest.mark.django_db


def test_bodies_older_than_30_days_are_emptied_and_audit_rows_stay(fake_stripe, endpoint, completed_setup, settings):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 30
    assert deliver_event(fake_stripe, endpoint, completed_setup.event).status_code == 200
    forged, signature = _bad_deliveries(fake_stripe, endpoint, completed_setup.event)["wrong secret"]
    assert deliver(endpoint, forged, signature).status_code == 400
    good, bad = WebhookEventTrigger.objects.order_by("pk")
    assert good.valid and good.processed and completed_setup.session_id in good.body
    assert bad.body and not bad.valid
    event = Event.objects.get()
    assert event.data and event.stripe_data
    received = good.created

    with time_machine.travel(received + timedelta(days=30) - timedelta(minutes=1), tick=False):
        assert webhook_bodies_drop().triggers_emptied == 0  # inside the period: untouched
    good.refresh_from_db()
    assert completed_setup.session_id in good.body

    with time_machine.travel(received + timedelta(days=30, minutes=1), tick=False):
        report = drop_old_webhook_bodies_task()
    assert report == {"triggers_emptied": 2, "events_emptied": 1}

    good.refresh_from_db()
    bad.refresh_from_db()
    event.refresh_from_db()
    assert (good.body, good.headers, bad.body, bad.headers) == ("", {}, "", {})
    # The audit stays: which delivery, when, valid or not, processed or not, for which event.
    assert good.valid and good.processed and good.created == received and good.event_id == event.id
    assert not bad.valid and not bad.processed
    assert (event.data, event.stripe_data) == ({}, {})
    assert event.id == completed_setup.event["id"] and event.type == "checkout.session.completed"
    assert WebhookEventTrigger.objects.count() == 2 and Event.objects.count() == 1

    with time_machine.travel(received + timedelta(days=31), tick=False):
        assert webhook_bodies_drop() == type(webhook_bodies_drop())(triggers_emptied=0, events_emptied=0)


def test_an_emptied_event_still_stops_a_replay(fake_stripe, endpoint, completed_setup, settings):
    settings.RETENTION_WEBHOOK_BODY_DAYS = 30
    assert deliver_event(fake_stripe, endpoint, completed_setup.event).status_code == 200
    received = WebhookEventTrigger.objects.get().created
    with time_machine.travel(received + timedelta(days=31), tick=False):
        webhook_bodies_drop()
        replay = deliver_event(fake_stripe, endpoint, completed_setup.event)  # signed now, same event id
    assert replay.status_code == 200
    assert Event.objects.count() == 1
    assert len(default_payment_method_writes(fake_stripe)) == 1  # the effect happened once
    assert has_default_card(completed_setup.user)
