import os
import shutil
from collections.abc import Iterator

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests.factories import CaseFactory, ContactFactory, UserFactory

pytest_plugins = ["tests.fakes.stripe"]  # the `fake_stripe` fixture

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.conf import settings

    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    # .ci/run's second pass runs the suite on SQLite (make run's database) on purpose, after the PostgreSQL one.
    if IN_CI and not on_postgres and os.environ.get("JSN_TEST_SQLITE_PASS") != "1":
        raise pytest.UsageError("CI must run on PostgreSQL: set DATABASE_URL (see .ci/run).")
    has_chromium = shutil.which(CHROMIUM) is not None or os.path.exists(CHROMIUM)
    if IN_CI and not has_chromium:
        raise pytest.UsageError(f"CI must run the browser tests, but {CHROMIUM} is missing.")
    skip_pg = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL or start PostgreSQL on localhost)")
    skip_browser = pytest.mark.skip(reason=f"needs Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            item.add_marker(skip_pg)
        if "browser" in item.keywords and not has_chromium:
            item.add_marker(skip_browser)


@pytest.fixture(scope="session", autouse=True)
def _cache_per_worker() -> Iterator[None]:
    """Each pytest-xdist worker uses its own Redis database, so one worker's cache reset never hits another.

    Done here, not in the settings module: xdist names the worker only after Django's settings are loaded.
    """
    from django.conf import settings
    from django.test import override_settings

    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    default = settings.CACHES["default"]
    if not worker.startswith("gw") or "redis" not in default["BACKEND"]:
        yield
        return
    base, _, db = default["LOCATION"].rpartition("/")
    db_number = max((int(db) if db.isdigit() else 15) - int(worker[2:] or 0), 0)
    with override_settings(CACHES={**settings.CACHES, "default": {**default, "LOCATION": f"{base}/{db_number}"}}):
        yield


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate limits and lockout counters live in the cache: every test starts from an empty one."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture(params=[pytest.param("sql", marks=pytest.mark.postgres), "orm"])
def claim_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a claims test through both claim paths: "sql" is PostgreSQL's one-round-trip function for single-case
    claims (the default there), "orm" the ORM path every claim takes on SQLite and every bulk claim takes."""
    from claims import services

    if request.param == "orm":
        monkeypatch.setattr(services, "_single_claim_in_sql", lambda case_ids: False)
    return request.param


@pytest.fixture
def subscriber(db):
    return UserFactory(email="sub@example.com")


@pytest.fixture
def other_subscriber(db):
    return UserFactory(email="other@example.com")


@pytest.fixture
def staff_user(db):
    return UserFactory(email="staff@example.com", role="staff")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def make_case(db):
    """A case with distinctive sensitive values, so a leak can be found by searching a response body."""

    def make(**kwargs):
        case = CaseFactory(**kwargs)
        ContactFactory(case=case)
        return case

    return make
