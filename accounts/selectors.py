"""Account reads."""

from rest_framework.authtoken.models import Token

from accounts.models import User


def api_token_for(*, user: User) -> Token | None:
    """The user's API token, or None (DRF keeps at most one per user)."""
    return Token.objects.filter(user=user).first()
