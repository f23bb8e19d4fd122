"""Signal receivers of the accounts app (connected in AccountsConfig.ready)."""

from django.http import HttpRequest

from accounts.models import User
from accounts.services import login_lockout_clear


def lift_lockout_after_password_reset(sender: type, request: HttpRequest, user: User, **kwargs: object) -> None:
    """allauth's `password_reset`: the lockout page promises that resetting the password gets the user back in."""
    login_lockout_clear(user=user)
