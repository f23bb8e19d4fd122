"""The mail provider's tracking webhook (delivered, bounced, opened) through django-anymail.

Only the provider named by `ANYMAIL_ESP` gets a URL, `/anymail/<esp>/tracking/`; with the setting empty none
exists. anymail's view parses the provider's own payload format, exempts the view from CSRF and the login
requirement, and checks HTTP basic auth against `ANYMAIL["WEBHOOK_SECRET"]` (plus the provider's signature where it
has one). We answer a failed check with 401 and a Basic challenge — anymail would say 400 — so providers that only
send credentials after a challenge work, and a missing secret reads as what it is.

Each event goes through anymail's `tracking` signal to `leads.services.delivery_tracking_apply`. An exception there
answers 500, so the provider delivers the event again; unknown message ids are answered 200 and logged.
"""

from __future__ import annotations

import logging
from typing import Any

from anymail.exceptions import AnymailWebhookValidationFailure
from anymail.signals import AnymailTrackingEvent, tracking
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path

from leads import services

logger = logging.getLogger(__name__)

TRACKING_URL_NAME = "email_tracking_webhook"
AUTH_REALM = 'Basic realm="JSN e-mail tracking"'


def _anymail_tracking_view(esp: str) -> type:
    """anymail's tracking view class for one ESP, found by the name anymail's own URLconf gives it."""
    from anymail import urls as anymail_urls

    for pattern in anymail_urls.urlpatterns:
        if pattern.name == f"{esp}_tracking_webhook":
            return pattern.callback.view_class
    known = sorted(p.name.removesuffix("_tracking_webhook") for p in anymail_urls.urlpatterns if "tracking" in p.name)
    raise ImproperlyConfigured(f"ANYMAIL_ESP={esp!r} has no anymail tracking webhook; use one of {known}.")


def tracking_view(esp: str) -> Any:
    base = _anymail_tracking_view(esp)

    class TrackingWebhookView(base):  # type: ignore[misc,valid-type]
        def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                return super().post(request, *args, **kwargs)
            except AnymailWebhookValidationFailure as exc:
                logger.warning("%s tracking webhook refused: %s", self.esp_name, exc)
                response = HttpResponse("Authentication required.", status=401, content_type="text/plain")
                response["WWW-Authenticate"] = AUTH_REALM
                return response

    TrackingWebhookView.__name__ = TrackingWebhookView.__qualname__ = f"Jsn{base.__name__}"
    return TrackingWebhookView.as_view()


def tracking_urlpatterns() -> list[URLPattern]:
    """The one tracking URL of the configured provider, or none."""
    esp = getattr(settings, "ANYMAIL_ESP", "")
    if not esp:
        return []
    return [path(f"anymail/{esp}/tracking/", tracking_view(esp), name=TRACKING_URL_NAME)]


@receiver(tracking, dispatch_uid="leads.delivery_tracking")
def delivery_tracking_received(sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any) -> None:
    if not event.message_id:
        logger.info("%s %s event without a message id ignored", esp_name, event.event_type)
        return
    services.delivery_tracking_apply(
        message_id=str(event.message_id),
        event_type=event.event_type,
        esp=esp_name,
        occurred_at=event.timestamp,
        event_id=event.event_id,
        description=event.description or event.mta_response or "",
    )
