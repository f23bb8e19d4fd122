"""Per-user hourly rate limits in the shared cache (Redis in production), so they hold across processes.

When the shared cache cannot be reached, a limit falls back to a count kept in this process's memory rather than
failing the request: a claim must still commit while Redis is down (RELIABILITY.md R2). The limit then holds per
process (a user may get up to limit × web processes for that hour) and the fallback is logged, at most once a
minute per process.
"""

import logging
import time

from django.core.cache import cache
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.locmem import LocMemCache

from jsn.lib.redis_cache import ThrottledWarning

logger = logging.getLogger(__name__)

_fallback = LocMemCache("jsn-ratelimit-fallback", {"MAX_ENTRIES": 100_000})
_warn = ThrottledWarning(logger, "Rate limits: the shared cache is unavailable; counting in this process instead")


def _count(store: BaseCache, key: str, timeout: int) -> int:
    store.add(key, 0, timeout=timeout)
    try:
        return store.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        store.set(key, 1, timeout=timeout)
        return 1


def rate_limit_hit(*, scope: str, user_id: int, limit: int, window_seconds: int = 3600) -> int | None:
    """Count one attempt in the user's current window; return the seconds to wait when over `limit`, else None."""
    now = int(time.time())
    window = now // window_seconds
    key = f"rl:{scope}:{user_id}:{window}"
    timeout = window_seconds + 60
    try:
        count = _count(cache, key, timeout)
    except Exception as exc:  # noqa: BLE001 - CacheUnavailable, or any client error from another backend
        _warn(exc)
        count = _count(_fallback, key, timeout)
    if count > limit:
        return max(1, (window + 1) * window_seconds - now)
    return None
