from django.conf import settings
from django.db import models
from django.db.models import Q

from jsn.lib.models import AppendOnlyModel


class Claim(models.Model):
    """A user's exclusive hold on a case. Score and daily price are frozen when the claim starts."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"
        REASSIGNED = "reassigned", "Reassigned"

    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="claims")
    # db_index off: claim_user_status (user, status) serves every lookup by user, and one index less to write per claim.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="claims", db_index=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    claimed_at = models.DateTimeField()
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=200, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    score_at_claim = models.PositiveSmallIntegerField()
    daily_price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    pricing_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The pricing configuration version that priced this claim."
    )
    expiry_warned_for = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="The expires_at value the owner was last warned about; a changed expiry is warned again.",
    )

    class Meta:
        ordering = ["-claimed_at", "-id"]
        constraints = [
            # The last line of defence: whatever the services do, a case has at most one active claim.
            models.UniqueConstraint(fields=["case"], condition=Q(status="active"), name="claim_one_active_per_case"),
            models.CheckConstraint(
                condition=Q(status="active", released_at__isnull=True)
                | (~Q(status="active") & Q(released_at__isnull=False)),
                name="claim_released_iff_not_active",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "status"], name="claim_user_status"),
            models.Index(fields=["status", "expires_at"], name="claim_status_expires"),
            models.Index(fields=["claimed_at"], name="claim_claimed_at"),
            models.Index(fields=["released_at"], name="claim_released_at"),
        ]

    def __str__(self) -> str:
        return f"Claim #{self.pk} on case #{self.case_id} ({self.status})"


IMMUTABLE_EVENT = "Claim events are an immutable audit trail: they cannot be changed or deleted."


class ImmutableEventError(Exception):
    pass


class ClaimEvent(AppendOnlyModel):
    """Immutable audit row: who changed a case's ownership, how, when and why."""

    class Action(models.TextChoices):
        CLAIMED = "claimed", "Claimed"
        RELEASED = "released", "Released"
        EXPIRED = "expired", "Expired"
        REASSIGNED = "reassigned", "Reassigned"
        EXPIRY_CHANGED = "expiry_changed", "Expiry changed"

    action = models.CharField(max_length=16, choices=Action.choices)
    # The three user columns are indexed together with the time (Meta.indexes) instead of alone: a user's audit
    # timeline reads the newest rows of each, page by page, without sorting their whole history.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="Empty when the system acted (e.g. expiry).",
    )
    # db_index off: claimevent_case_time (case, created_at) serves every lookup by case.
    case = models.ForeignKey("cases.Case", on_delete=models.PROTECT, related_name="claim_events", db_index=False)
    claim = models.ForeignKey(Claim, on_delete=models.PROTECT, related_name="events")
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    # Who held the claim after the event: the new owner of a claim or reassignment, the owner whose claim's expiry
    # staff changed (their timeline shows it; nobody is e-mailed about an expiry change, the warning follows).
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reason = models.CharField(max_length=200, blank=True)
    # An expiry change's before and after (empty: the claim never expires); empty for every other action.
    expires_before = models.DateTimeField(null=True, blank=True, help_text="Expiry changed: the expiry before.")
    expires_after = models.DateTimeField(null=True, blank=True, help_text="Expiry changed: the expiry after.")
    created_at = models.DateTimeField()

    APPEND_ONLY_MESSAGE = IMMUTABLE_EVENT
    append_only_error = ImmutableEventError

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["case", "created_at"], name="claimevent_case_time"),
            models.Index(fields=["to_user", "created_at", "id"], name="claimevent_to_user_time"),
            models.Index(fields=["from_user", "created_at", "id"], name="claimevent_from_user_time"),
            models.Index(fields=["actor", "created_at", "id"], name="claimevent_actor_time"),
            models.Index(fields=["created_at", "id"], name="claimevent_time"),  # the admin's newest-first list
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} case #{self.case_id} at {self.created_at:%Y-%m-%d %H:%M}"
