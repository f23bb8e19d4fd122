"""Geo-leads: PLZ subscriptions, lead PDFs, planned deliveries, rotation and import health."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# Five digits from 01001 (the lowest German PLZ) to 99999, the rule leads.plz reads them from PDFs by.
PLZ_VALIDATOR = RegexValidator(
    r"^(?!00|01000)[0-9]{5}\Z", "A German postal code (PLZ) has five digits, from 01001 to 99999."
)


class PlzSubscription(models.Model):
    """An agent's subscription to the leads of one PLZ.

    Stripe drives `status` for `source=stripe` rows (webhooks and a daily re-check, see
    `leads.services.plz_subscription_sync_from_stripe`); staff grant and end subscriptions by hand. One Stripe
    subscription can pay for several PLZs: one row per (Stripe subscription, PLZ). Only `active` subscriptions
    within their period receive leads (Stripe-paid ones `PLZ_RENEWAL_GRACE_HOURS` longer, see
    `eligible_subscriptions_q`).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        UNPAID = "unpaid", "Unpaid"
        CANCELED = "canceled", "Canceled"

    class Source(models.TextChoices):
        STRIPE = "stripe", "Stripe"
        MANUAL = "manual", "Granted by staff"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plz_subscriptions")
    plz = models.CharField("PLZ", max_length=5, validators=[PLZ_VALIDATOR], db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.STRIPE)
    stripe_subscription_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    current_period_end = models.DateTimeField(
        null=True, blank=True, help_text="Leads stop after this moment. Empty: no end (manual grants)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plz", "created_at"]
        constraints = [
            # A user holds at most one live subscription per PLZ; canceled ones stay as history.
            models.UniqueConstraint(
                fields=["user", "plz"], condition=~Q(status="canceled"), name="leads_one_open_subscription_per_plz"
            ),
            # One Stripe subscription pays for several PLZs, each PLZ at most once.
            models.UniqueConstraint(fields=["stripe_subscription_id", "plz"], name="leads_one_row_per_stripe_sub_plz"),
        ]

    def __str__(self) -> str:
        return f"PLZ {self.plz} · {self.user_id} · {self.get_status_display()}"

    @property
    def withdrawable(self) -> bool:
        """Awaiting payment (the same rule as `awaiting_payment_q`, for one row in memory): nobody has paid for it,
        so the agent may take it back."""
        paid_by_stripe = bool(self.stripe_subscription_id)
        return self.status == self.Status.PENDING and self.source == self.Source.STRIPE and not paid_by_stripe

    def is_eligible(self, now: datetime | None = None) -> bool:
        """The same rule as `eligible_subscriptions_q`, for one row in memory."""
        now = now or timezone.now()
        if self.status != self.Status.ACTIVE:
            return False
        if self.current_period_end is None or self.current_period_end > now:
            return True
        return self.source == self.Source.STRIPE and self.current_period_end > now - renewal_grace()


def renewal_grace() -> timedelta:
    return timedelta(hours=settings.PLZ_RENEWAL_GRACE_HOURS)


def awaiting_payment_q() -> Q:
    """Requests that wait for the agent's Stripe payment: pending, to be paid by Stripe, no Stripe subscription yet."""
    return Q(
        status=PlzSubscription.Status.PENDING,
        source=PlzSubscription.Source.STRIPE,
        stripe_subscription_id__isnull=True,
    )


def eligible_subscriptions_q(now: datetime) -> Q:
    """Subscriptions that receive leads at `now`: active and inside their period.

    A Stripe-paid subscription stays eligible for `PLZ_RENEWAL_GRACE_HOURS` past its period end: Stripe renews
    at the period end but its webhook (with the new end) can arrive minutes or hours later, and a paying agent must
    not miss leads in that gap. Only while Stripe still says `active`: past_due, unpaid and canceled get nothing,
    and manual grants end exactly at their period end.
    """
    return Q(status=PlzSubscription.Status.ACTIVE) & (
        Q(current_period_end__isnull=True)
        | Q(current_period_end__gt=now)
        | Q(source=PlzSubscription.Source.STRIPE, current_period_end__gt=now - renewal_grace())
    )


class PlzCheckout(models.Model):
    """One Stripe Checkout started for a set of PLZs: a second click on "Pay with Stripe" reuses it.

    While a row is `open` and younger than `CHECKOUT_REUSE`, the same (user, PLZ set) gets the same Checkout
    session back instead of a second one (which could become a second subscription). The unique constraint makes
    that hold for concurrent clicks too; the Stripe idempotency key `jsn-plzco-<id>` covers two requests racing
    to create the session of one row.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        COMPLETED = "completed", "Completed"
        SUPERSEDED = "superseded", "Superseded"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="plz_checkouts")
    plzs = models.CharField("PLZs", max_length=500, help_text="Sorted, comma-separated.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    stripe_session_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    url = models.URLField(max_length=1000, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "plzs"], condition=Q(status="open"), name="leads_one_open_checkout_per_plz_set"
            )
        ]

    def __str__(self) -> str:
        return f"Checkout for PLZ {self.plzs} · {self.user_id} · {self.get_status_display()}"


class Lead(models.Model):
    class Status(models.TextChoices):
        REVIEW = "review", "Needs review"
        READY = "ready", "Ready to distribute"
        DISTRIBUTED = "distributed", "Distributed"
        QUARANTINED = "quarantined", "Quarantined"

    dialfire_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    sha256 = models.CharField("content SHA-256", max_length=64, unique=True)
    # Stored through Django's storage under MEDIA_ROOT, which no URL serves; downloads go through signed views.
    pdf = models.FileField(upload_to="leads/%Y/%m/", max_length=255)
    filename = models.CharField(max_length=255, blank=True)
    size_bytes = models.PositiveIntegerField(default=0)
    text_snippet = models.TextField(blank=True)
    plz = models.CharField("PLZ", max_length=5, null=True, blank=True, validators=[PLZ_VALIDATOR], db_index=True)
    candidates = models.JSONField(default=list, blank=True, help_text="Every PLZ match: value, text, page, offset.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.REVIEW, db_index=True)
    quarantine_reason = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    distributed_at = models.DateTimeField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"Lead #{self.pk} · PLZ {self.plz or '?'} · {self.get_status_display()}"


class Delivery(models.Model):
    """One planned e-mail of one lead to one subscriber. At most one per (lead, subscriber), ever."""

    class Position(models.TextChoices):
        FIRST = "first", "First (exclusive)"
        OTHER = "other", "After the exclusive window"

    class Status(models.TextChoices):
        PLANNED = "planned", "Planned"
        QUEUED = "queued", "Queued for retry"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        DELIVERED = "delivered", "Delivered"
        OPENED = "opened", "Opened"
        BOUNCED = "bounced", "Bounced"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="deliveries")
    subscriber = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lead_deliveries")
    position = models.CharField(max_length=8, choices=Position.choices)
    due_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLANNED)
    attempts = models.PositiveSmallIntegerField(default=0)
    lease_until = models.DateTimeField(null=True, blank=True, help_text="Taken by a send run until then.")
    sending_started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=255, blank=True, help_text="Our Message-ID header.")
    provider_message_id = models.CharField(
        max_length=255, blank=True, db_index=True, help_text="The mail provider's id (anymail), named by its webhooks."
    )
    tracked_at = models.DateTimeField(null=True, blank=True, help_text="When the provider reported the status.")
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["lead", "subscriber"], name="leads_one_delivery_per_pair")]
        indexes = [models.Index(fields=["status", "due_at"], name="leads_delivery_due_idx")]

    def __str__(self) -> str:
        return f"Delivery #{self.pk} of lead #{self.lead_id} to {self.subscriber_id} ({self.status})"


class PlzRotation(models.Model):
    """Who got the first (exclusive) position in a PLZ, and when: the basis of the fair rotation.

    `turns` maps a user id to {"turn": n, "at": iso-time}; `turn` is a per-PLZ counter, so the order stays
    exact even when many leads are distributed within the same instant.
    """

    plz = models.CharField("PLZ", max_length=5, unique=True, validators=[PLZ_VALIDATOR])
    counter = models.PositiveIntegerField(default=0)
    turns = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["plz"]

    def __str__(self) -> str:
        return f"Rotation of PLZ {self.plz}"


class ImportSource(models.Model):
    """Cursor and health of one import source (Dialfire). Shown to staff in the admin."""

    DIALFIRE = "dialfire"

    name = models.CharField(max_length=32, unique=True)
    cursor = models.CharField(max_length=255, blank=True)
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    imported_total = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"Import source {self.name}"

    @property
    def healthy(self) -> bool:
        return self.consecutive_failures == 0 and self.last_success_at is not None


class LeadEvent(models.Model):
    """Immutable audit trail: imports, quarantine, reviews, re-sends, downloads, manual grants."""

    class Action(models.TextChoices):
        IMPORTED = "imported", "Imported"
        QUARANTINED = "quarantined", "Quarantined"
        REVIEW_RESOLVED = "review_resolved", "Review resolved"
        RESENT = "resent", "Re-send requested"
        MARKED_SENT = "marked_sent", "Ambiguous send confirmed as sent"
        DOWNLOADED = "downloaded", "PDF downloaded"
        DOWNLOAD_REFUSED = "download_refused", "PDF download refused"
        SUBSCRIPTION_GRANTED = "subscription_granted", "Subscription granted"
        SUBSCRIPTION_ENDED = "subscription_ended", "Subscription ended"
        SUBSCRIPTION_REQUESTED = "subscription_requested", "Subscription requested"
        SUBSCRIPTION_EXPIRED = "subscription_expired", "Subscription expired"
        SUBSCRIPTION_STRIPE_SYNCED = "subscription_stripe_synced", "Subscription updated from Stripe"
        SUBSCRIPTION_DUPLICATE = "subscription_duplicate", "Duplicate Stripe subscription"
        TRACKED = "tracked", "Delivery status from the mail provider"

    action = models.CharField(max_length=32, choices=Action.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    delivery = models.ForeignKey(Delivery, null=True, blank=True, on_delete=models.SET_NULL, related_name="events")
    subscription = models.ForeignKey(
        PlzSubscription, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} at {self.created_at:%Y-%m-%d %H:%M}"
