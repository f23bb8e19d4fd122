from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from jsn.lib.models import AppendOnlyModel


class Case(models.Model):
    """A scored foreclosure case. Sensitive fields are masked for non-owners (cases/masking.py)."""

    class Stage(models.TextChoices):
        LIS_PENDENS = "lis_pendens", "Lis pendens"
        NOTICE_OF_DEFAULT = "notice_of_default", "Notice of default"
        NOTICE_OF_SALE = "notice_of_sale", "Notice of sale"
        AUCTION_SCHEDULED = "auction_scheduled", "Auction scheduled"
        SOLD = "sold", "Sold at auction"
        REO = "reo", "Bank-owned (REO)"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class PropertyType(models.TextChoices):
        SINGLE_FAMILY = "single_family", "Single family"
        CONDO = "condo", "Condo"
        TOWNHOUSE = "townhouse", "Townhouse"
        MULTI_FAMILY = "multi_family", "Multi-family"
        LAND = "land", "Land"
        COMMERCIAL = "commercial", "Commercial"

    case_number = models.CharField(max_length=64)
    state = models.CharField(max_length=2, help_text="Two-letter US state code.")
    county = models.CharField(max_length=64)
    filing_date = models.DateField(null=True, blank=True)
    stage = models.CharField(max_length=32, choices=Stage.choices, default=Stage.LIS_PENDENS)
    auction_date = models.DateField(null=True, blank=True)
    street = models.CharField("street address", max_length=200, blank=True)
    city = models.CharField(max_length=100, blank=True)
    zip_code = models.CharField("ZIP", max_length=10, blank=True)
    parcel_number = models.CharField(max_length=64, blank=True)
    property_type = models.CharField(max_length=32, choices=PropertyType.choices, default=PropertyType.SINGLE_FAMILY)
    estimated_value_cents = models.BigIntegerField(null=True, blank=True)
    amount_owed_cents = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3, default="usd")
    score = models.PositiveSmallIntegerField(validators=[MinValueValidator(0), MaxValueValidator(100)])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="assigned_cases",
        help_text="The owner through an active claim; kept in step by the claims services.",
        # Deliberately not indexed: every claim, release and reassignment changes this column, and with no index on
        # it PostgreSQL updates the row in place (a HOT update: no new entry in any of the table's indexes, a
        # fraction of the WAL). "Whose cases" is answered through claims' (user, status) index (owned_case_ids).
        db_index=False,
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=64, blank=True)
    last_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-score", "id"]
        constraints = [
            models.UniqueConstraint(fields=["state", "county", "case_number"], name="case_unique_per_court"),
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=100), name="case_score_0_100"),
            models.CheckConstraint(
                condition=Q(assigned_to__isnull=True) | Q(assigned_at__isnull=False),
                name="case_assigned_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "-score", "id"], name="case_state_score"),
            models.Index(fields=["-score", "id"], name="case_score"),
            models.Index(fields=["auction_date"], name="case_auction_date"),
        ]

    def __str__(self) -> str:
        # Deliberately free of sensitive values: __str__ leaks into logs, admin history and errors.
        return f"Case #{self.pk} ({self.county}, {self.state})"

    @property
    def is_claimed(self) -> bool:
        return self.assigned_to_id is not None

    @property
    def is_claimable(self) -> bool:
        """The case takes claims: open, not sold or withdrawn. Whether someone holds it is a separate question (the
        API's and the pages' `is_claimable` ask both: cases.presenters.claimable_now)."""
        return self.takes_claims(self.status, self.stage)

    @classmethod
    def takes_claims(cls, status: str, stage: str) -> bool:
        """is_claimable for a status and a stage (list rows are dicts, not cases)."""
        return status == cls.Status.OPEN and stage not in UNCLAIMABLE_STAGES

    @classmethod
    def claimable_q(cls) -> Q:
        """is_claimable as a filter (whether someone holds the case is a separate question)."""
        return Q(status=cls.Status.OPEN) & ~Q(stage__in=sorted(UNCLAIMABLE_STAGES))

    @classmethod
    def claimable_now_q(cls) -> Q:
        """Cases a claim could take now: claimable_q, and nobody holds them (the "Open to claim" filter, the
        dashboards' available cases)."""
        return cls.claimable_q() & Q(assigned_to__isnull=True)


# The stages in which an open case no longer takes claims (Case.is_claimable, claimable_q, the list filter; the
# claim fast path's SQL function, claims migration 0005, names the same two — a test holds them equal).
UNCLAIMABLE_STAGES = frozenset({Case.Stage.SOLD, Case.Stage.WITHDRAWN})


class Contact(models.Model):
    """A skip-trace contact for a case (an owner, heir, occupant…). Entirely sensitive."""

    class Relation(models.TextChoices):
        OWNER = "owner", "Owner"
        CO_OWNER = "co_owner", "Co-owner"
        HEIR = "heir", "Heir"
        OCCUPANT = "occupant", "Occupant"
        ATTORNEY = "attorney", "Attorney"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(max_length=200)
    relation = models.CharField(max_length=16, choices=Relation.choices, default=Relation.OWNER)
    phones = models.JSONField(default=list, blank=True)
    emails = models.JSONField(default=list, blank=True)
    mailing_address = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["case", "id"]
        permissions = [
            # Checked for staff in the support role only (accounts.models.CONTACT_DATA_PERMISSION).
            ("view_contact_pii", "Can see contact data (names, phones, e-mails, mailing addresses)"),
        ]

    def __str__(self) -> str:
        return f"Contact #{self.pk} of case #{self.case_id}"


class Document(models.Model):
    """A case document. Files are stored privately; downloads go through signed, logged views."""

    class Kind(models.TextChoices):
        LIS_PENDENS = "lis_pendens", "Lis pendens"
        NOTICE_OF_DEFAULT = "notice_of_default", "Notice of default"
        NOTICE_OF_SALE = "notice_of_sale", "Notice of sale"
        DEED = "deed", "Deed"
        MORTGAGE = "mortgage", "Mortgage"
        SKIP_TRACE = "skip_trace", "Skip-trace report"
        OTHER = "other", "Other"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="documents")
    kind = models.CharField(max_length=32, choices=Kind.choices, default=Kind.OTHER)
    title = models.CharField(max_length=200, blank=True)
    file = models.FileField(upload_to="documents/%Y/%m/", blank=True)
    content_type = models.CharField(max_length=100, default="application/pdf")
    page_count = models.PositiveIntegerField(null=True, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


IMMUTABLE_ACCESS = "Document access records are an immutable audit trail: they cannot be changed or deleted."


class ImmutableAccessError(Exception):
    pass


class DocumentAccess(AppendOnlyModel):
    """One attempt to get a document link or download, allowed or refused. Written by cases/documents.py only."""

    class Action(models.TextChoices):
        LINK = "link", "Link requested"
        DOWNLOAD = "download", "Download"

    class Result(models.TextChoices):
        ALLOWED = "allowed", "Allowed"
        REFUSED = "refused", "Refused"

    class Reason(models.TextChoices):
        OK = "ok", "OK"
        NOT_OWNER = "not_owner", "Not the case's owner"
        NOT_LOGGED_IN = "not_logged_in", "Not logged in"
        OTHER_USER = "other_user", "Link issued to another user"
        EXPIRED = "expired", "Link expired"
        BAD_SIGNATURE = "bad_signature", "Invalid or tampered link"
        NOT_FOUND = "not_found", "Document not found"
        NO_FILE = "no_file", "No stored file"
        RATE_LIMITED = "rate_limited", "Rate limited"
        UNREADABLE = "unreadable", "File could not be prepared"
        CONTACT_DATA_WITHHELD = "contact_data_withheld", "Support role without contact-data access"

    action = models.CharField(max_length=16, choices=Action.choices)
    result = models.CharField(max_length=16, choices=Result.choices)
    reason = models.CharField(max_length=32, choices=Reason.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Empty when nobody was logged in.",
    )
    document = models.ForeignKey(
        Document,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="accesses",
        help_text="Empty when the link named no readable document.",
    )
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="document_accesses")
    ip = models.GenericIPAddressField("IP address", null=True, blank=True)
    created_at = models.DateTimeField()

    APPEND_ONLY_MESSAGE = IMMUTABLE_ACCESS
    append_only_error = ImmutableAccessError

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "document accesses"
        indexes = [
            models.Index(fields=["case", "created_at"], name="docaccess_case_time"),
            models.Index(fields=["user", "created_at"], name="docaccess_user_time"),
            models.Index(fields=["created_at", "id"], name="docaccess_time"),  # the admin's newest-first list
        ]

    def __str__(self) -> str:
        return f"{self.get_action_display()} of document #{self.document_id}: {self.result} ({self.reason})"
