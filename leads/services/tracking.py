"""Delivery status from the mail provider's tracking events (delivered, opened, bounced), forward only."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from leads.models import Delivery, LeadEvent

logger = logging.getLogger(__name__)

S = Delivery.Status

# anymail's normalised event types → our status. A click proves an open; a provider's rejection or failure means
# the agent did not get the e-mail, like a bounce. Everything else (queued, deferred, complained, …) is logged only.
EVENT_STATUS = {
    "delivered": S.DELIVERED,
    "opened": S.OPENED,
    "clicked": S.OPENED,
    "bounced": S.BOUNCED,
    "rejected": S.BOUNCED,
    "failed": S.BOUNCED,
}

# Where each status may move. Events arrive late, twice and in any order: an open proves the delivery, so a
# delivered event after it changes nothing; opened and bounced are final.
FORWARD: dict[str, frozenset[str]] = {
    S.SENT: frozenset({S.DELIVERED, S.OPENED, S.BOUNCED}),
    S.DELIVERED: frozenset({S.OPENED, S.BOUNCED}),
}

APPLIED, IGNORED, UNKNOWN = "applied", "ignored", "unknown"


def delivery_tracking_apply(
    *,
    message_id: str,
    event_type: str,
    esp: str,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    description: str = "",
) -> str:
    """Apply one tracking event to the delivery sent with this provider message id. Returns applied/ignored/unknown.

    Idempotent: a repeated or older event finds the status already at or past its target and changes nothing (no
    second audit row). An unknown id (another system's mail on the same account, a message re-sent since) is logged.
    """
    target = EVENT_STATUS.get(event_type)
    if not message_id:
        return UNKNOWN
    with transaction.atomic():
        # The row lock serialises concurrent events of one message, so the forward check below cannot interleave.
        delivery = Delivery.objects.select_for_update().filter(provider_message_id=message_id).first()
        if delivery is None:
            logger.info("%s %s event for unknown message %s ignored", esp, event_type, message_id[:100])
            return UNKNOWN
        if target is None or target not in FORWARD.get(delivery.status, ()):
            logger.debug("%s %s event for delivery %s (%s) ignored", esp, event_type, delivery.pk, delivery.status)
            return IGNORED
        previous = delivery.status
        at = occurred_at or timezone.now()
        delivery.status = target
        delivery.tracked_at = at
        fields = ["status", "tracked_at", "updated_at"]
        if target == S.BOUNCED:
            delivery.last_error = f"bounced: {description}"[:500] if description else "bounced"
            fields.append("last_error")
        delivery.save(update_fields=fields)
        LeadEvent.objects.create(
            action=LeadEvent.Action.TRACKED,
            lead_id=delivery.lead_id,
            delivery=delivery,
            detail={
                "esp": esp,
                "event": event_type,
                "event_id": event_id,
                "previous_status": previous,
                "status": target,
                "at": at.isoformat(),
                "description": description[:300],
            },
        )
    if target == S.BOUNCED:
        logger.warning("lead delivery %s bounced at %s: %s", delivery.pk, esp, description[:200])
    return APPLIED
