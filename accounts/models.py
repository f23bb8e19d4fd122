from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from rest_framework.authtoken.models import Token

from jsn.lib.models import AppendOnlyModel

# Skip-trace contact data (names, phones, e-mails, mailing addresses) for staff in the support role.
CONTACT_DATA_PERMISSION = "cases.view_contact_pii"


def default_claim_limit() -> int:
    return settings.DEFAULT_CLAIM_LIMIT


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> "User":
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.update(is_staff=True, is_superuser=True, role=User.Role.ADMIN)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A JSN account. The e-mail address is the login."""

    class Role(models.TextChoices):
        SUBSCRIBER = "subscriber", "Subscriber"
        STAFF = "staff", "Staff"
        # Back-office staff who answer customers: contact data stays masked unless they hold
        # CONTACT_DATA_PERMISSION (the "Contact data access" group).
        SUPPORT = "support", "Support (contact data masked)"
        ADMIN = "admin", "Admin"

    username = None
    email = models.EmailField("e-mail address", unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SUBSCRIBER)
    claim_limit = models.PositiveSmallIntegerField(
        default=default_claim_limit,
        validators=[MinValueValidator(1), MaxValueValidator(settings.MAX_CLAIM_LIMIT)],
        help_text=f"How many cases this user may hold at once (1–{settings.MAX_CLAIM_LIMIT}).",
    )
    billing_active = models.BooleanField(default=True, help_text="Unticked: this user's claims accrue no charges.")
    terms_version = models.CharField(max_length=32, blank=True)
    terms_accepted_at = models.DateTimeField(null=True, blank=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            models.CheckConstraint(
                condition=Q(claim_limit__gte=1) & Q(claim_limit__lte=250), name="user_claim_limit_1_250"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: object, **kwargs: object) -> None:
        # Role and Django's admin flags describe one fact; keep them in step.
        if self.is_superuser:
            self.role = self.Role.ADMIN
        if self.role in STAFF_ROLES:
            self.is_staff = True
        self.email = (self.email or "").lower()
        super().save(*args, **kwargs)

    @property
    def sees_everything(self) -> bool:
        """Staff see every case unmasked."""
        return self.is_active and self.is_staff

    @property
    def contact_data_withheld(self) -> bool:
        """True for support staff without CONTACT_DATA_PERMISSION: contacts are masked for them everywhere."""
        return self.role == self.Role.SUPPORT and not self.has_perm(CONTACT_DATA_PERMISSION)


# Roles that work in the back office: saving a user with one of them makes them staff (is_staff).
STAFF_ROLES = frozenset({User.Role.STAFF, User.Role.SUPPORT, User.Role.ADMIN})

IMMUTABLE_USER_EVENT = "User events are an immutable audit trail: they cannot be changed or deleted."


class ImmutableUserEventError(Exception):
    pass


class UserEvent(AppendOnlyModel):
    """Immutable audit row for staff changes to an account's claim limit or billing flag, and for the API tokens the
    user issues and revokes: who, what, when, why."""

    class Action(models.TextChoices):
        CLAIM_LIMIT_SET = "claim_limit_set", "Claim limit set"
        BILLING_SET = "billing_set", "Billing switched"
        # from/to name a token by the last characters of its key (never the key): "…3f9a".
        API_TOKEN_ISSUED = "api_token_issued", "API token issued"
        API_TOKEN_REVOKED = "api_token_revoked", "API token revoked"

    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="events")
    actor = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: the system."
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    from_value = models.CharField(max_length=32, blank=True)
    to_value = models.CharField(max_length=32)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    APPEND_ONLY_MESSAGE = IMMUTABLE_USER_EVENT
    append_only_error = ImmutableUserEventError

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "created_at"], name="userevent_user_time")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} for user #{self.user_id}: {self.from_value or '—'} → {self.to_value}"


def token_label(key: str) -> str:
    """A token as pages and the audit trail name it: the last characters of its key, too few to use ("…3f9a")."""
    return f"…{key[-4:]}"


class ApiToken(Token):
    """DRF's token as the back office shows it: named by the last characters of its key, never the key (which
    logs in as its user). DRF's own admin (TokenProxy) lists every key in clear; accounts/admin.py replaces it."""

    class Meta:
        proxy = True
        verbose_name = "API token"
        verbose_name_plural = "API tokens"

    @property
    def label(self) -> str:
        return token_label(self.key)

    def __str__(self) -> str:
        return f"{self.label} of {self.user.email}"
