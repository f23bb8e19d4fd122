"""Per-user hourly rate limits in the shared cache (Redis in production), so they hold across processes.

When the shared cache cannot be reached, a limit falls back to a count kept in this process's memory rather than
failing the request: a claim must still commit while Redis is down (RELIABILITY.md R2). The limit then holds per
process (a user may get up to limit × web processes for that hour) and the fallback is logged, at most once a
minute per process.
"""

import logging
import time
from typing import Any

from django.core.cache import cache, caches
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
        count = _count_shared(key, timeout=timeout)
    except Exception as exc:  # noqa: BLE001 - CacheUnavailable, redis-py's errors, or any other backend's
        _warn(exc)
        count = _count(_fallback, key, timeout)
    if count > limit:
        return max(1, (window + 1) * window_seconds - now)
    return None


# Create the counter with its expiry unless it exists, then increment it: one command, atomic in Redis.
_COUNT_ONE = "redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"


def _count_shared(key: str, *, timeout: int) -> int:
    script = _redis_script()
    if script is not None:
        # One round trip (EVALSHA). Django's add() + incr() is two, and builds a new redis client object for each:
        # together about a tenth of a claim request's CPU.
        return int(script(keys=[cache.make_and_validate_key(key)], args=[timeout]))
    return _count(cache, key, timeout)


def _redis_script() -> Any | None:
    """The counting script on a redis-py client over Django's own connection pool when the default cache is Django's
    RedisCache, else None.

    Kept on the cache backend object, so a settings change (tests' override_settings) gets a new one with it. The
    counter is stored as Django's RedisCache stores integers (a plain Redis integer), so cache.get() reads it."""
    from django.core.cache.backends.redis import RedisCache

    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    script = backend.__dict__.get("_jsn_ratelimit_script")
    if script is None:
        # redis-py's Script sends EVALSHA and loads the script again if Redis lost it (restart, SCRIPT FLUSH).
        script = backend._cache.get_client(write=True).register_script(_COUNT_ONE)
        backend.__dict__["_jsn_ratelimit_script"] = script
    return script
