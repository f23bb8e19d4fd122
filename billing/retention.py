"""Retention of raw Stripe webhook data: bodies and headers are emptied after RETENTION_WEBHOOK_BODY_DAYS.

A webhook body is a whole Stripe object (customer e-mail, name, address, card brand and last digits, invoice lines):
personal data kept only as long as it is useful — Stripe retries a delivery for up to 3 days, and staff may want to
re-read a recent one. After that the rows stay for the audit (id, type, valid/processed, exception, times, the
linked event), only the payload goes. dj-stripe's dedupe is by event id, so an emptied event still stops a replay.
Our own receivers (billing/webhooks.py) store no payloads: they re-read objects from Stripe by id.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone
from djstripe.models import Event, WebhookEventTrigger

BATCH_SIZE = 1000


@dataclass(frozen=True)
class WebhookRetentionReport:
    triggers_emptied: int
    events_emptied: int


def _empty_in_batches(queryset: QuerySet, **empty: object) -> int:
    """UPDATE in primary-key batches (short transactions, no long row locks); rows already empty are not matched,
    so a re-run or a concurrent run finds nothing left to do."""
    total, last_pk = 0, 0
    while True:
        pks = list(queryset.filter(pk__gt=last_pk).order_by("pk").values_list("pk", flat=True)[:BATCH_SIZE])
        if not pks:
            return total
        total += queryset.model.objects.filter(pk__in=pks).update(**empty)
        last_pk = pks[-1]


def webhook_bodies_drop(*, now: datetime | None = None) -> WebhookRetentionReport:
    """Empty the stored bodies and headers of webhook deliveries, and the payloads of events, older than the
    retention period. Idempotent and set-based."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.RETENTION_WEBHOOK_BODY_DAYS)
    triggers = WebhookEventTrigger.objects.filter(created__lt=cutoff).filter(~Q(body="") | ~Q(headers={}))
    events = Event.objects.filter(djstripe_created__lt=cutoff).filter(~Q(data={}) | ~Q(stripe_data={}))
    return WebhookRetentionReport(
        triggers_emptied=_empty_in_batches(triggers, body="", headers={}),
        events_emptied=_empty_in_batches(events, data={}, stripe_data={}),
    )
