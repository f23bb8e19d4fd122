from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from billing import pricing
from jsn.lib.models import AppendOnlyModel


class PricingConfig(models.Model):
    """One version of the pricing. Rows are never edited: a change is a new version (the claim keeps its own)."""

    class Kind(models.TextChoices):
        FLAT = pricing.PricingModel.FLAT.value, "Flat (one daily price)"
        BANDED = pricing.PricingModel.BANDED.value, "Banded (score bands)"
        MULTIPLIER = pricing.PricingModel.MULTIPLIER.value, "Multiplier (score × cents, floor, ceiling)"

    version = models.PositiveIntegerField(unique=True)
    is_active = models.BooleanField(default=False)
    model = models.CharField(max_length=16, choices=Kind.choices, default=Kind.BANDED)
    currency = models.CharField(max_length=3, default="usd")
    flat_price_cents = models.PositiveIntegerField(default=0, help_text="Flat: the daily price in cents.")
    bands = models.JSONField(
        default=list,
        blank=True,
        help_text='Banded: [{"min_score": 80, "max_score": 100, "price_cents": 1500}, …] covering 0–100.',
    )
    cents_per_point = models.PositiveIntegerField(default=0, help_text="Multiplier: cents per score point.")
    floor_cents = models.PositiveIntegerField(default=0, help_text="Multiplier: the lowest daily price.")
    ceiling_cents = models.PositiveIntegerField(null=True, blank=True, help_text="Multiplier: the highest, if any.")
    note = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["is_active"], condition=Q(is_active=True), name="pricing_one_active"),
        ]

    def __str__(self) -> str:
        return f"Pricing v{self.version} ({self.model}{', active' if self.is_active else ''})"

    def rule(self) -> pricing.PricingRule:
        return pricing.PricingRule(
            model=pricing.PricingModel(self.model),
            currency=self.currency,
            flat_price_cents=self.flat_price_cents,
            bands=pricing.bands_from_data(self.bands or []) if self.model == pricing.PricingModel.BANDED else (),
            cents_per_point=self.cents_per_point,
            floor_cents=self.floor_cents,
            ceiling_cents=self.ceiling_cents,
        )

    def clean(self) -> None:
        try:
            errors = pricing.rule_errors(self.rule())
        except pricing.PricingError as exc:
            errors = exc.errors
        if errors:
            raise ValidationError(errors)


ERR_LINE_IMMUTABLE = "Invoice lines never change once written; add a credit line on a later invoice instead."


class ImmutableLineError(Exception):
    pass


class Invoice(models.Model):
    """One user's charges for one billing day. (user, invoice_date) is unique: a day is billed once."""

    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        PAID = "paid", "Paid"
        FAILED = "failed", "Payment failed"
        VOID = "void", "Void"
        UNCOLLECTIBLE = "uncollectible", "Uncollectible"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices")
    invoice_date = models.DateField(help_text="The billing day (in BILLING_TIME_ZONE) these charges are for.")
    number = models.CharField(max_length=32, unique=True)
    currency = models.CharField(max_length=3)
    subtotal_cents = models.BigIntegerField()
    tax_cents = models.BigIntegerField(default=0)
    total_cents = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    due_date = models.DateField()
    paid_at = models.DateTimeField(null=True, blank=True)
    stripe_invoice_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    stripe_customer_id = models.CharField(max_length=64, null=True, blank=True)
    stripe_sync_error = models.TextField(
        blank=True, default="", help_text="Why sending this to Stripe stopped; the daily sync skips it until cleared."
    )
    billing_run = models.ForeignKey("BillingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-invoice_date", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "invoice_date"], name="invoice_one_per_user_day"),
            models.CheckConstraint(
                condition=Q(total_cents=models.F("subtotal_cents") + models.F("tax_cents")),
                name="invoice_total_is_subtotal_plus_tax",
            ),
        ]
        indexes = [
            models.Index(fields=["invoice_date"], name="invoice_date"),
            models.Index(fields=["status", "due_date"], name="invoice_status_due"),
        ]

    def __str__(self) -> str:
        return f"Invoice {self.number}"


class InvoiceLine(AppendOnlyModel):
    """One claim-day (or a credit for one). Never changes once written."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    claim = models.ForeignKey("claims.Claim", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey("cases.Case", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    case_number = models.CharField(max_length=64, blank=True, help_text="Snapshot when the line was written.")
    description = models.CharField(max_length=200)
    service_date = models.DateField()
    quantity = models.PositiveIntegerField(default=1)
    unit_amount_cents = models.BigIntegerField()
    amount_cents = models.BigIntegerField()
    score = models.PositiveSmallIntegerField(null=True, blank=True)
    credit_for = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="credits", help_text="Credit lines only."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    APPEND_ONLY_MESSAGE = ERR_LINE_IMMUTABLE
    append_only_error = ImmutableLineError

    class Meta:
        ordering = ["invoice_id", "service_date", "id"]
        constraints = [
            # A claim-day is charged once, whatever runs twice.
            models.UniqueConstraint(
                fields=["claim", "service_date"], condition=Q(credit_for__isnull=True), name="line_one_per_claim_day"
            ),
            # Same-day re-claim of one case by one user: one charge (the invoice is the user's day).
            models.UniqueConstraint(
                fields=["invoice", "case", "service_date"],
                condition=Q(credit_for__isnull=True),
                name="line_one_per_invoice_case_day",
            ),
            # A charge is credited at most once.
            models.UniqueConstraint(
                fields=["credit_for"], condition=Q(credit_for__isnull=False), name="line_one_credit_per_line"
            ),
            models.CheckConstraint(
                condition=Q(amount_cents=models.F("quantity") * models.F("unit_amount_cents")),
                name="line_amount_is_quantity_times_unit",
            ),
            models.CheckConstraint(
                condition=Q(credit_for__isnull=True, amount_cents__gte=0)
                | Q(credit_for__isnull=False, amount_cents__lte=0),
                name="line_charge_positive_credit_negative",
            ),
        ]
        indexes = [
            # The dashboard's revenue per day reads one window of service days, and checks its cached days against
            # the count of lines in it (backoffice.metrics.revenue_by_day): both along this index.
            models.Index(fields=["service_date"], name="line_service_date"),
        ]

    def __str__(self) -> str:
        return f"{self.description} ({self.amount_cents} cents)"


class InvoiceEvent(models.Model):
    """Audit row for every status change of an invoice: who, from, to, why."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=16, choices=Invoice.Status.choices, blank=True)
    to_status = models.CharField(max_length=16, choices=Invoice.Status.choices)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.from_status or '—'} → {self.to_status}"


class BillingCursor(models.Model):
    """The last billing day processed for a user (billed or, with billing off, deliberately not).

    It stops a later run from billing days on which the user's billing was off, and bounds how far back a run
    reads claims. Moved only forward, only over a contiguous range, in the same transaction as the invoices.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, primary_key=True, on_delete=models.CASCADE, related_name="billing_cursor"
    )
    processed_through = models.DateField()

    def __str__(self) -> str:
        return f"user #{self.user_id} processed through {self.processed_through}"


class BillingRun(models.Model):
    class Trigger(models.TextChoices):
        BEAT = "beat", "Scheduled"
        COMMAND = "command", "Command"
        API = "api", "Staff API"
        ADMIN = "admin", "Back office"
        SERVICE = "service", "Service"

    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SERVICE)
    first_day = models.DateField()
    last_day = models.DateField()
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    users = models.PositiveIntegerField(default=0)
    invoices = models.PositiveIntegerField(default=0)
    lines = models.PositiveIntegerField(default=0)
    totals = models.JSONField(default=dict, blank=True, help_text="Cents per currency billed by this run.")
    failures = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"Billing run #{self.pk} ({self.first_day}–{self.last_day})"


class BillingRunFailure(models.Model):
    """One user the run could not bill; the next run tries again."""

    run = models.ForeignKey(BillingRun, null=True, blank=True, on_delete=models.CASCADE, related_name="failure_rows")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    error = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"Billing failure for user #{self.user_id}"


class StripeDrift(models.Model):
    """A difference between a local invoice and Stripe found by reconciliation; staff resolve it in the admin."""

    class Kind(models.TextChoices):
        MISSING_AT_STRIPE = "missing_at_stripe", "Not at Stripe"
        UNLINKED = "unlinked", "At Stripe but not linked locally"
        OTHER_STRIPE_ID = "other_stripe_id", "Linked to another Stripe invoice"
        STATUS = "status", "Status differs"
        AMOUNT = "amount", "Amount differs"

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="drifts")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    stripe_invoice_id = models.CharField(max_length=64, blank=True)
    local_value = models.CharField(max_length=64, blank=True)
    stripe_value = models.CharField(max_length=64, blank=True)
    found_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(auto_now=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-found_at", "-id"]
        constraints = [
            # One open report per (invoice, kind): a daily run refreshes it instead of piling up rows.
            models.UniqueConstraint(
                fields=["invoice", "kind"], condition=Q(resolved_at__isnull=True), name="stripe_drift_one_open"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.invoice_id} {self.get_kind_display()}: {self.local_value!r} vs Stripe {self.stripe_value!r}"
