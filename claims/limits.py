"""Per-user rate limit on claim and release requests (PRODUCT.md "Trust"): a bulk request counts once."""

from django.conf import settings

from accounts.models import User
from jsn.lib.ratelimit import rate_limit_hit

RATE_LIMITED = "Too many claim or release requests. Try again later."


def claim_requests_wait(*, user: User) -> int | None:
    """Count one claim/release request; the seconds to wait when the user is over the hourly limit, else None."""
    return rate_limit_hit(scope="claims", user_id=user.pk, limit=settings.CLAIM_RATE_LIMIT_PER_HOUR)
