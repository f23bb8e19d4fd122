from django.db import models
from django.db.models import Q
from django.utils import timezone


class OutboxMessage(models.Model):
    """Work promised by a committed change, written in the same transaction as that change.

    A Celery task queued after commit can be lost (broker down, Redis restarted without persistence, worker
    killed); this row cannot. `sent_at` is set in the transaction that ran the handler, so a message is handled
    once however many nudges and sweeps race for it (outbox.services).
    """

    kind = models.CharField(max_length=64, help_text="Which registered handler runs it, e.g. claims.event_notices.")
    payload = models.JSONField(default=dict, help_text="Keyword arguments for the handler: ids only.")
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep walks unsent rows by id; sent rows are many and never read by it.
            models.Index(fields=["id"], condition=Q(sent_at__isnull=True), name="outbox_unsent"),
            models.Index(fields=["sent_at"], condition=Q(sent_at__isnull=False), name="outbox_sent_at"),
        ]

    def __str__(self) -> str:
        state = f"sent {self.sent_at:%Y-%m-%d %H:%M:%S}" if self.sent_at else f"unsent, {self.attempts} attempt(s)"
        return f"{self.kind} #{self.pk} ({state})"
