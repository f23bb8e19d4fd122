"""Delivery status from the mail provider: lead e-mails go through anymail's real Postmark backend (to FakePostmark),
and Postmark's tracking webhooks — real payload format, HTTP basic auth — move each delivery forward only."""

import itertools
import json
import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.test import Client
from django.urls import reverse

from leads.models import Delivery, LeadEvent
from leads.samples import lead_pdf
from leads.services import deliveries_send_due, delivery_tracking_apply, lead_import_pdf
from leads.webhooks import tracking_urlpatterns
from tests.factories import UserFactory
from tests.fakes.postmark import basic_auth, fake_postmark  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
URL = "/anymail/postmark/tracking/"


@pytest.fixture
def sent(grant, fake_postmark):  # noqa: F811
    """One lead e-mailed through Postmark to one agent: (delivery, Postmark's MessageID)."""
    sub = grant("10115")
    with time_machine.travel(T0, tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="T1"), filename="a.pdf")
        assert deliveries_send_due().sent == 1
    delivery = Delivery.objects.get(subscriber=sub.user)
    (message,) = fake_postmark.sent
    return delivery, message.message_id


def post(payload: dict, *, auth: str | None = basic_auth(), client: Client | None = None):
    headers = {"HTTP_AUTHORIZATION": auth} if auth else {}
    return (client or Client()).post(URL, data=json.dumps(payload), content_type="application/json", **headers)


def tracked_events() -> list[tuple[str, str]]:
    return [
        (e.detail["previous_status"], e.detail["status"])
        for e in LeadEvent.objects.filter(action=LeadEvent.Action.TRACKED).order_by("id")
    ]


# --- sending through the provider -------------------------------------------------------------------------------
def test_the_provider_message_id_is_stored_at_send_time(sent, fake_postmark):  # noqa: F811
    delivery, message_id = sent
    (message,) = fake_postmark.sent
    assert delivery.status == Delivery.Status.SENT
    assert delivery.provider_message_id == message_id
    assert delivery.message_id == message.header("Message-ID")  # our own header is kept as well
    [(name, content, mimetype)] = message.attachments
    assert (name, mimetype) == (f"lead-{delivery.lead_id}-plz-10115.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    # Opens can only be tracked in HTML mail: the same text goes out as HTML too, with open tracking on.
    assert "PLZ: 10115" in message.payload["TextBody"] and "PLZ: 10115" in message.payload["HtmlBody"]
    assert message.payload["TrackOpens"] is True
    assert message.payload["Metadata"] == {"jsn_delivery": str(delivery.pk)}


def test_a_recipient_the_provider_refuses_is_retried_then_failed_never_ambiguous(grant, fake_postmark):  # noqa: F811
    sub = grant("10115")
    fake_postmark.inactive.add(sub.user.email)
    with time_machine.travel(T0, tick=False) as clock:
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
        for minute in range(60):
            clock.move_to(T0 + timedelta(minutes=minute))
            deliveries_send_due()
    delivery = Delivery.objects.get()
    assert (delivery.status, delivery.attempts) == (Delivery.Status.FAILED, 3)
    assert delivery.last_error.startswith("AnymailRecipientsRefused")
    assert fake_postmark.sent == []


# --- the webhook ---------------------------------------------------------------------------------------------------
def test_delivered_then_opened_move_the_status_forward_audited(sent, fake_postmark, client):  # noqa: F811
    delivery, message_id = sent
    delivered_at = T0 + timedelta(seconds=3)

    response = post(fake_postmark.delivery_event(message_id, at=delivered_at))

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert (delivery.status, delivery.tracked_at) == (Delivery.Status.DELIVERED, delivered_at)

    assert post(fake_postmark.open_event(message_id, at=T0 + timedelta(minutes=5))).status_code == 200

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.OPENED
    assert tracked_events() == [("sent", "delivered"), ("delivered", "opened")]
    event = LeadEvent.objects.filter(action=LeadEvent.Action.TRACKED).last()
    assert (event.lead_id, event.delivery_id, event.detail["esp"]) == (delivery.lead_id, delivery.pk, "Postmark")
    # The agent sees it on their page.
    client.force_login(delivery.subscriber)
    page = client.get(reverse("leads_received")).content.decode()
    assert f"#{delivery.lead_id}" in page and "opened" in page


def test_a_bounce_is_final_shown_to_staff_and_the_lead_stays_downloadable(sent, fake_postmark, client):  # noqa: F811
    delivery, message_id = sent
    assert post(fake_postmark.bounce_event(message_id, at=T0 + timedelta(minutes=1))).status_code == 200
    assert post(fake_postmark.open_event(message_id, at=T0 + timedelta(minutes=2))).status_code == 200
    assert post(fake_postmark.delivery_event(message_id, at=T0 + timedelta(minutes=3))).status_code == 200

    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.last_error.startswith("bounced: The server was unable to deliver your message")
    assert tracked_events() == [("sent", "bounced")]
    # Staff find it in the deliveries list, filtered by status, with the reason.
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    page = client.get(reverse("admin:leads_delivery_changelist"), {"status__exact": "bounced"}).content.decode()
    assert reverse("admin:leads_delivery_change", args=[delivery.pk]) in page
    assert "bounced: The server was unable" in page
    # The agent still has the lead on their page, and the download works.
    client.force_login(delivery.subscriber)
    page = client.get(reverse("leads_received")).content.decode()
    assert "bounced" in page and "download it here" in page
    link = page.split('href="/leads/download/')[1].split('"')[0]
    response = client.get(f"/leads/download/{link}")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"


def test_a_transient_bounce_changes_nothing(sent, fake_postmark):  # noqa: F811
    delivery, message_id = sent
    assert post(fake_postmark.bounce_event(message_id, at=T0, type_="Transient")).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert tracked_events() == []


@pytest.mark.parametrize("order", list(itertools.permutations(["delivery", "open", "bounce"])))
def test_any_order_and_duplicates_never_move_backwards(sent, fake_postmark, order):  # noqa: F811
    """Postmark retries and does not order its webhooks: each event twice, in every order of the three."""
    delivery, message_id = sent
    build = {
        "delivery": fake_postmark.delivery_event,
        "open": fake_postmark.open_event,
        "bounce": fake_postmark.bounce_event,
    }
    seen = []
    for i, kind in enumerate(order):
        payload = build[kind](message_id, at=T0 + timedelta(minutes=i))
        for _ in range(2):
            assert post(payload).status_code == 200
            delivery.refresh_from_db()
            seen.append(delivery.status)
    # Opened and bounced are final: whichever of the two came first wins; delivered never follows either.
    final = "opened" if order.index("open") < order.index("bounce") else "bounced"
    assert delivery.status == final
    rank = {"sent": 0, "delivered": 1, "opened": 2, "bounced": 2}
    assert all(rank[a] <= rank[b] for a, b in itertools.pairwise(seen)), seen
    # One audit row per change, none for the duplicates or the ignored ones.
    delivered_first = order.index("delivery") < min(order.index("open"), order.index("bounce"))
    assert len(tracked_events()) == (2 if delivered_first else 1)


def test_without_or_with_wrong_credentials_401_and_nothing_changes(sent, fake_postmark):  # noqa: F811
    delivery, message_id = sent
    payload = fake_postmark.delivery_event(message_id, at=T0)
    for auth in (None, basic_auth(password="wrong"), basic_auth(user="someone"), "Bearer test-webhook-password"):
        response = post(payload, auth=auth)
        assert response.status_code == 401, auth
        assert response["WWW-Authenticate"].startswith("Basic ")
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert tracked_events() == []


def test_unknown_message_id_is_answered_200_ignored_and_logged(sent, fake_postmark, caplog):  # noqa: F811
    delivery, message_id = sent
    payload = fake_postmark.delivery_event(message_id, at=T0)
    payload["MessageID"] = "00000000-1111-2222-3333-444444444444"
    with caplog.at_level(logging.INFO, logger="leads.services.tracking"):
        response = post(payload)
    assert response.status_code == 200
    assert "unknown message 00000000-1111-2222-3333-444444444444" in caplog.text
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT
    assert tracked_events() == []


def test_the_webhook_needs_no_csrf_token_and_no_session(sent, fake_postmark):  # noqa: F811
    delivery, message_id = sent
    strict = Client(enforce_csrf_checks=True)
    assert post(fake_postmark.delivery_event(message_id, at=T0), client=strict).status_code == 200
    assert strict.get(URL).status_code == 405  # POST only
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED


def test_events_for_a_delivery_not_sent_are_ignored(grant):
    """A delivery still planned or in `sending` (ambiguous) is not moved by a tracking event."""
    grant("10115")
    with time_machine.travel(T0, tick=False):
        lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin"), filename="a.pdf")
    Delivery.objects.update(provider_message_id="abc", status=Delivery.Status.SENDING)
    assert delivery_tracking_apply(message_id="abc", event_type="delivered", esp="Postmark") == "ignored"
    assert Delivery.objects.get().status == Delivery.Status.SENDING


# --- mounting ------------------------------------------------------------------------------------------------------
def test_the_tracking_url_exists_only_for_the_configured_provider(settings):
    settings.ANYMAIL_ESP = ""
    assert tracking_urlpatterns() == []
    settings.ANYMAIL_ESP = "mailgun"
    [pattern] = tracking_urlpatterns()
    assert str(pattern.pattern) == "anymail/mailgun/tracking/"
    assert pattern.callback.view_class.__mro__[1].__name__ == "MailgunTrackingWebhookView"
    settings.ANYMAIL_ESP = "no-such-esp"
    with pytest.raises(ImproperlyConfigured, match="postmark"):
        tracking_urlpatterns()


def test_a_provider_without_a_webhook_secret_is_refused_at_start():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANYMAIL_")}
    env.update(ANYMAIL_ESP="postmark", SECRET_KEY="x", DJANGO_SETTINGS_MODULE="jsn.settings")
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env,
        capture_output=True,
        text=True,
        cwd=django_settings.BASE_DIR,
        check=False,
    )
    assert result.returncode != 0
    assert "ANYMAIL_ESP needs ANYMAIL_WEBHOOK_SECRET" in result.stderr
