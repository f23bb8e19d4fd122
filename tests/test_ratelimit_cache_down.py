"""R2 at unit level: with the shared cache (Redis) unreachable, claims still commit; the per-user rate limit falls
back to a count in this process (logged) instead of failing the request, and logging in still works (allauth's
rate limit fails open; django-axes' lockout, in the database, still counts). The real outage is
tests/stress/test_r2_redis_down.py."""

import logging
import socket
import time

import pytest
from allauth.account.models import EmailAddress
from django.test import Client, override_settings

from claims.models import Claim
from jsn.lib import ratelimit, redis_cache
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


CONFIGURED = "jsn.lib.redis_cache.ResilientRedisCache"  # what jsn/settings.py uses with REDIS_URL
PLAIN = "django.core.cache.backends.redis.RedisCache"  # raises on every call: the rate limiter copes alone too


def redis_down(backend: str = CONFIGURED) -> dict:
    return {
        "default": {
            "BACKEND": backend,
            "LOCATION": f"redis://127.0.0.1:{closed_port()}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }


@pytest.fixture(autouse=True)
def _fresh_fallback():
    ratelimit._fallback.clear()
    ratelimit._warn.reset()
    redis_cache._warn.reset()
    yield
    ratelimit._fallback.clear()


@pytest.mark.parametrize("backend", [CONFIGURED, PLAIN])
def test_claims_commit_with_the_cache_down_and_the_limit_still_holds_per_process(api_client, caplog, backend):
    caplog.set_level(logging.WARNING, logger="jsn.lib.ratelimit")
    user = UserFactory(email="nocache@example.com")
    cases = CaseFactory.create_batch(3)
    api_client.force_authenticate(user)
    with override_settings(CACHES=redis_down(backend), CLAIM_RATE_LIMIT_PER_HOUR=2):
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


def test_logging_in_works_with_the_cache_down_and_the_lockout_still_counts(caplog):
    caplog.set_level(logging.WARNING, logger="jsn.lib.redis_cache")
    user = UserFactory(email="login@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client = Client(raise_request_exception=False)
    with override_settings(CACHES=redis_down()):
        wrong = client.post("/accounts/login/", {"login": user.email, "password": "wrong-password"})
        assert wrong.status_code == 200 and "not correct" in wrong.content.decode()
        right = client.post("/accounts/login/", {"login": user.email, "password": "correct-horse-battery"})
        assert right.status_code == 302 and right["Location"] == "/dashboard/"
        assert client.get("/dashboard/").status_code == 200
        attacker = Client(raise_request_exception=False)
        for i in range(5):
            attacker.post("/accounts/login/", {"login": user.email, "password": f"wrong-{i}"})
        locked = attacker.post("/accounts/login/", {"login": user.email, "password": "correct-horse-battery"})
    assert locked.status_code == 429  # django-axes keeps its counts in the database: Redis down changes nothing
    assert "Redis is unreachable" in caplog.text


def test_health_reports_the_cache_down_without_failing(client):
    with override_settings(CACHES=redis_down()):
        response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["cache"] == "down" and response.json()["database"] == "ok"
