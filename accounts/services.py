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
