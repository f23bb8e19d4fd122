"""R2 at unit level: with the shared cache (Redis) unreachable, claims still commit; the per-user rate limit falls
back to a count in this process (logged) instead of failing the request. The real outage is tests/stress/test_r2_*."""

import logging
import socket
import time

import pytest
from django.test import override_settings

from claims.models import Claim
from jsn.lib import ratelimit
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_down() -> dict:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }


@pytest.fixture(autouse=True)
def _fresh_fallback():
    ratelimit._fallback.clear()
    ratelimit._last_logged = 0.0
    yield
    ratelimit._fallback.clear()


def test_claims_commit_with_the_cache_down_and_the_limit_still_holds_per_process(api_client, caplog):
    caplog.set_level(logging.WARNING, logger="jsn.lib.ratelimit")
    user = UserFactory(email="nocache@example.com")
    cases = CaseFactory.create_batch(3)
    api_client.force_authenticate(user)
    with override_settings(CACHES=redis_down(), CLAIM_RATE_LIMIT_PER_HOUR=2):
        started = time.monotonic()
        statuses = [api_client.post(f"/api/v3/cases/{c.pk}/claim").status_code for c in cases]
        elapsed = time.monotonic() - started
    assert statuses == [201, 201, 429]
    assert elapsed < 3, f"three requests took {elapsed:.1f}s: a cache outage must fail fast"
    assert Claim.objects.filter(user=user, status="active").count() == 2
    assert "shared cache is unavailable" in caplog.text
    assert caplog.text.count("shared cache is unavailable") == 1  # logged once a minute, not per request


def test_with_the_cache_back_the_shared_count_is_used_again(api_client):
    user = UserFactory(email="back@example.com")
    api_client.force_authenticate(user)
    with override_settings(CACHES=redis_down()):
        assert api_client.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201
    assert ratelimit._fallback.get(f"rl:claims:{user.pk}:{int(time.time()) // 3600}") == 1
    assert api_client.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201
    from django.core.cache import cache

    assert cache.get(f"rl:claims:{user.pk}:{int(time.time()) // 3600}") == 1  # counted in Redis, not the fallback
