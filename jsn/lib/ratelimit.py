"""Per-user hourly rate limits in the shared cache (Redis in production), so they hold across processes."""

import time

from django.core.cache import cache


def rate_limit_hit(*, scope: str, user_id: int, limit: int, window_seconds: int = 3600) -> int | None:
    """Count one attempt in the user's current window; return the seconds to wait when over `limit`, else None."""
    now = int(time.time())
    window = now // window_seconds
    key = f"rl:{scope}:{user_id}:{window}"
    cache.add(key, 0, timeout=window_seconds + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.set(key, 1, timeout=window_seconds + 60)
        count = 1
    if count > limit:
        return max(1, (window + 1) * window_seconds - now)
    return None
