"""Account writes: terms acceptance (and, with the trust issue, export and closure)."""

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User

TERMS_NOT_ACCEPTED = "Please accept the current terms of service first."


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
