"""The shared per-user rate limiter (jsn.lib.ratelimit): one Redis round trip, the same counts on any cache."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from jsn.lib import ratelimit

LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit-test"}}


def hits(n: int, *, limit: int) -> list[int | None]:
    return [ratelimit.rate_limit_hit(scope="test", user_id=7, limit=limit) for _ in range(n)]


def test_counts_per_user_and_scope_and_refuses_past_the_limit():
    answers = hits(4, limit=3)
    assert answers[:3] == [None, None, None]
    assert 0 < answers[3] <= 3600  # seconds until the window ends
    assert ratelimit.rate_limit_hit(scope="test", user_id=8, limit=3) is None  # another user
    assert ratelimit.rate_limit_hit(scope="other", user_id=7, limit=3) is None  # another scope


def test_on_redis_the_counter_is_one_key_with_the_windows_expiry_readable_through_the_cache():
    script = ratelimit._redis_script()
    if script is None:
        pytest.skip("the default cache is not Redis here (REDIS_URL unset)")
    hits(2, limit=10)
    (key,) = cache._cache.get_client().keys("*rl:test:7:*")
    ttl = cache._cache.get_client().ttl(key)
    assert 3600 < ttl <= 3660  # the window plus a minute, set once when the counter was created
    window_key = key.decode().split(":", 2)[-1]  # without Django's key prefix and version
    assert cache.get(window_key) == 2


@override_settings(CACHES=LOCMEM)
def test_without_redis_the_cache_api_counts_the_same():
    assert ratelimit._redis_script() is None
    answers = hits(4, limit=3)
    assert answers[:3] == [None, None, None] and answers[3] > 0
