"""Per-user hourly rate limits in the shared cache (Redis in production), so they hold across processes."""

import time
from typing import Any

from django.core.cache import cache, caches


def rate_limit_hit(*, scope: str, user_id: int, limit: int, window_seconds: int = 3600) -> int | None:
    """Count one attempt in the user's current window; return the seconds to wait when over `limit`, else None."""
    now = int(time.time())
    window = now // window_seconds
    key = f"rl:{scope}:{user_id}:{window}"
    count = _count_one(key, timeout=window_seconds + 60)
    if count > limit:
        return max(1, (window + 1) * window_seconds - now)
    return None


# Create the counter with its expiry unless it exists, then increment it: one command, atomic in Redis.
_COUNT_ONE = "redis.call('SET', KEYS[1], 0, 'EX', ARGV[1], 'NX') return redis.call('INCR', KEYS[1])"


def _count_one(key: str, *, timeout: int) -> int:
    script = _redis_script()
    if script is not None:
        # One round trip (EVALSHA). Django's add() + incr() is two, and builds a new redis client object for each:
        # together about a tenth of a claim request's CPU.
        return int(script(keys=[cache.make_and_validate_key(key)], args=[timeout]))
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # evicted between add and incr: start the window again
        cache.set(key, 1, timeout=timeout)
        return 1


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
