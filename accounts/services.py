"""Account writes: terms acceptance, export and closure, staff changes to limits and billing (audited), the
user's API token (audited), lockouts lifted by a password reset, and the retention of login records and sessions."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import import_module

from axes.helpers import get_cool_off
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.authtoken.models import Token

from accounts.axes import lockout_username
from accounts.models import User, UserEvent, token_label

TERMS_NOT_ACCEPTED = "Please accept the current terms of service first."
STAFF_ONLY = "Only staff can do this."
CLAIM_LIMIT_RANGE = "The claim limit must be a whole number from 1 to {max}."


class TermsNotAccepted(Exception):
    code = "terms_not_accepted"

    def __init__(self) -> None:
        super().__init__(TERMS_NOT_ACCEPTED)


def terms_are_current(*, user: User) -> bool:
    return bool(user.terms_accepted_at) and user.terms_version == settings.TERMS_VERSION


def terms_require_current(*, user: User) -> None:
    """Raise TermsNotAccepted unless the user accepted the current version (staff act on others' behalf)."""
    if not user.is_staff and not terms_are_current(user=user):
        raise TermsNotAccepted()


def terms_accept(*, user: User) -> User:
    """Record that the user accepted the current terms, with the version and the time."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(terms_version=settings.TERMS_VERSION, terms_accepted_at=timezone.now())
    user.refresh_from_db(fields=["terms_version", "terms_accepted_at"])
    return user


def account_close(*, user: User) -> None:
    """Close an account: cancel Stripe PLZ subscriptions, release claims, end subscriptions, anonymise the rest.

    Invoices and their lines stay (legal retention). The password becomes unusable, which ends every session of
    this user (Django checks the password hash on each request); API tokens are deleted.
    """
    from allauth.account.models import EmailAddress
    from rest_framework.authtoken.models import Token

    from billing import stripe_gateway
    from claims.services import claims_release_all_for_user
    from leads.models import PlzSubscription
    from leads.services import subscription_end

    open_subscriptions = list(PlzSubscription.objects.filter(user=user).exclude(status=PlzSubscription.Status.CANCELED))
    # Stripe first, outside our transaction: if it fails nothing here has changed yet and the user can retry.
    for stripe_id in sorted({s.stripe_subscription_id for s in open_subscriptions if s.stripe_subscription_id}):
        if stripe_gateway.is_enabled():
            stripe_gateway.subscription_cancel(stripe_subscription_id=stripe_id)
    with transaction.atomic():
        claims_release_all_for_user(actor=user, user=user, reason="account closed")
        for subscription in open_subscriptions:
            subscription_end(actor=user, subscription=subscription)
        EmailAddress.objects.filter(user=user).delete()
        Token.objects.filter(user=user).delete()
        user.email = f"closed-{user.pk}@closed.invalid"
        user.first_name = user.last_name = ""
        user.is_active = False
        user.set_unusable_password()
        user.save()


@dataclass(frozen=True)
class LoginRetentionReport:
    attempts_deleted: int
    failure_logs_deleted: int
    attempts_kept_locking: bool  # True when lockouts never expire (AXES_COOLOFF_TIME None): attempts are kept


def failed_logins_prune(*, now: datetime | None = None) -> LoginRetentionReport:
    """Delete django-axes failed-login records older than RETENTION_FAILED_LOGIN_DAYS.

    Never shorter than the lockout window: an attempt row that still counts towards a lockout stays, so pruning
    can never unlock an account early. With lockouts that never expire, attempt rows are kept (staff lift them with
    `axes_reset_username`) and only the failure log is pruned. Idempotent and set-based.
    """
    now = now or timezone.now()
    retention = timedelta(days=settings.RETENTION_FAILED_LOGIN_DAYS)
    cool_off = get_cool_off()
    failure_logs, _ = AccessFailureLog.objects.filter(attempt_time__lt=now - retention).delete()
    if cool_off is None:
        return LoginRetentionReport(attempts_deleted=0, failure_logs_deleted=failure_logs, attempts_kept_locking=True)
    # axes moves attempt_time to the latest failure, and counts an attempt while attempt_time >= now - cool_off.
    attempts = AccessAttempt.objects.filter(attempt_time__lt=now - max(retention, cool_off)).delete()[1]
    return LoginRetentionReport(
        attempts_deleted=attempts.get(AccessAttempt._meta.label, 0),
        failure_logs_deleted=failure_logs,
        attempts_kept_locking=False,
    )


def login_lockout_clear(*, user: User) -> int:
    """Lift django-axes' lockout (and failure count) of every address the user logs in with; returns the number of
    attempt records removed.

    Called when a password reset by e-mail completes: whoever finished it controls the mailbox, and the failures
    counted were against the old password. axes' access logs are left alone (they are the record of the attempts).
    """
    from allauth.account.models import EmailAddress
    from axes.utils import reset

    addresses = {user.email, *EmailAddress.objects.filter(user=user).values_list("email", flat=True)}
    # Keyed exactly as axes stored them (AXES_USERNAME_CALLABLE); never an empty key, which axes reads as "all".
    keys = sorted({key for key in (lockout_username(None, {"login": a}) for a in addresses) if key})
    return sum(reset(username=key) for key in keys)


def sessions_expired_clear() -> None:
    """Delete expired sessions, as `manage.py clearsessions` does: Django keeps their rows until someone clears them.
    Whatever SESSION_ENGINE is configured decides how (a no-op for engines that expire on their own)."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()


# --- Staff changes to an account (each one audited in UserEvent) ---------------------------------------------


class AccountError(Exception):
    """A refused account change with a machine-readable code (the API's `code`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class UserChange:
    user: User
    previous: object
    changed: bool  # False: the value was already that; no audit row is written for a non-change


def _require_staff(actor: User) -> None:
    if not (actor.is_active and actor.is_staff):
        raise AccountError("forbidden", STAFF_ONLY)


def _lock(user: User) -> User:
    # The claim path locks the same row first (claims.services._lock_user), so a limit change and a claim by this
    # user are serialised: a claim never checks against a limit that is being changed under it.
    return User.objects.select_for_update().only("id", "claim_limit", "billing_active").get(pk=user.pk)


def user_set_claim_limit(*, actor: User, user: User, claim_limit: int, reason: str = "") -> UserChange:
    """Set how many cases the user may hold at once (1–MAX_CLAIM_LIMIT). Held claims stay; only new ones count."""
    _require_staff(actor)
    if (
        isinstance(claim_limit, bool)
        or not isinstance(claim_limit, int)
        or not 1 <= claim_limit <= settings.MAX_CLAIM_LIMIT
    ):
        raise AccountError("invalid", CLAIM_LIMIT_RANGE.format(max=settings.MAX_CLAIM_LIMIT))
    with transaction.atomic():
        locked = _lock(user)
        previous = locked.claim_limit
        if previous != claim_limit:
            User.objects.filter(pk=user.pk).update(claim_limit=claim_limit)
            UserEvent.objects.create(
                user_id=user.pk,
                actor=actor,
                action=UserEvent.Action.CLAIM_LIMIT_SET,
                from_value=str(previous),
                to_value=str(claim_limit),
                reason=reason.strip()[:200],
            )
    user.claim_limit = claim_limit
    return UserChange(user=user, previous=previous, changed=previous != claim_limit)


def user_set_billing(*, actor: User, user: User, billing_active: bool | None = None, reason: str = "") -> UserChange:
    """Switch the user's billing on or off (None: flip it). Days with billing off are never billed later."""
    _require_staff(actor)
    with transaction.atomic():
        locked = _lock(user)
        previous = locked.billing_active
        new = (not previous) if billing_active is None else billing_active
        if previous != new:
            User.objects.filter(pk=user.pk).update(billing_active=new)
            UserEvent.objects.create(
                user_id=user.pk,
                actor=actor,
                action=UserEvent.Action.BILLING_SET,
                from_value="on" if previous else "off",
                to_value="on" if new else "off",
                reason=reason.strip()[:200],
            )
    user.billing_active = new
    return UserChange(user=user, previous=previous, changed=previous != new)


# --- The user's own API token (each change audited in UserEvent) ----------------------------------------------


def api_token_label(token: Token | None) -> str:
    """A token as the page and the audit trail name it (models.token_label; "" for none): also what a replace form
    carries."""
    return token_label(token.key) if token is not None else ""


class TokenChanged(Exception):
    """The token is no longer the one the request meant to replace (a reloaded or double-sent form)."""


def api_token_issue(*, user: User, replaces: str | None = None) -> Token:
    """Give the user a new API token, replacing (so revoking) the one they had. Audited; the caller shows the key.

    `replaces` (a page's form): the label of the token the user saw; if theirs is another one by now, TokenChanged
    and nothing happens — a reload of the answer that showed a new key must not silently replace that key again."""
    with transaction.atomic():
        # DRF allows one token per user: two issues at once (a double click) must not both insert.
        User.objects.select_for_update().only("id").get(pk=user.pk)
        previous = Token.objects.filter(user=user).first()
        replaced = api_token_label(previous)  # before the delete, which clears the key (the primary key)
        if replaces is not None and replaces != replaced:
            raise TokenChanged
        if previous is not None:
            previous.delete()
        token = Token.objects.create(user=user)
        UserEvent.objects.create(
            user_id=user.pk,
            actor=user,
            action=UserEvent.Action.API_TOKEN_ISSUED,
            from_value=replaced,
            to_value=api_token_label(token),
            reason="replaced the previous token" if replaced else "",
        )
    return token


def api_token_revoke(*, user: User, actor: User | None = None, reason: str = "") -> bool:
    """Delete the user's API token: requests with it are refused (401) from now on. False if they had none.
    `actor`: who did it, when not the user (staff in the admin)."""
    with transaction.atomic():
        User.objects.select_for_update().only("id").get(pk=user.pk)
        token = Token.objects.filter(user=user).first()
        if token is None:
            return False
        revoked = api_token_label(token)  # before the delete, which clears the key (the primary key)
        token.delete()
        UserEvent.objects.create(
            user_id=user.pk,
            actor=actor or user,
            action=UserEvent.Action.API_TOKEN_REVOKED,
            from_value=revoked,
            to_value="revoked",
            reason=reason.strip()[:200],
        )
    return True
