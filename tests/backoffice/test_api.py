"""The staff API under /api/v3/admin/: figures, error codes, and nobody else gets in."""

import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.cache import cache
from django.core.management import call_command

from billing.models import Invoice
from claims.models import Claim
from jsn.lib.health import HEARTBEAT_CACHE_KEY
from leads.models import ImportSource
from tests.backoffice.builders import claim, failed_once, invoice, webhook
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
SUMMARY = "/api/v3/admin/billing/summary"
STATS = "/api/v3/admin/claims/stats"
HEALTH = "/api/v3/admin/system/health"


@pytest.fixture
def staff_api(api_client, staff_user):
    api_client.force_authenticate(staff_user)
    return api_client


@pytest.mark.parametrize("url", [SUMMARY, STATS, HEALTH])
def test_subscribers_get_403_and_anonymous_401(api_client, subscriber, url):
    assert api_client.get(url).status_code == 401
    api_client.force_authenticate(subscriber)
    response = api_client.get(url)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def _invoices() -> None:
    user = UserFactory()
    invoice(user, date(2026, 2, 27), 800, Invoice.Status.PAID)
    invoice(user, date(2026, 3, 2), 1500, Invoice.Status.PAID)
    failed_once(invoice(user, date(2026, 3, 3), 700, Invoice.Status.FAILED))
    invoice(user, date(2026, 3, 4), 1000, Invoice.Status.OPEN)
    invoice(UserFactory(), date(2026, 3, 4), 900, Invoice.Status.OPEN, currency="eur")


def test_billing_summary_defaults_to_the_current_month(staff_api):
    _invoices()
    with time_machine.travel(NOW, tick=False):
        body = staff_api.get(SUMMARY).json()
    assert (body["first_day"], body["last_day"]) == ("2026-03-01", "2026-03-31")
    usd = next(row for row in body["currencies"] if row["currency"] == "usd")
    assert usd["billed"] == {"cents": 3200, "count": 3}
    assert usd["collected"] == {"cents": 1500, "count": 1}
    assert usd["pending"] == {"cents": 1000, "count": 1}
    assert usd["failed"] == {"cents": 700, "count": 1}
    assert usd["void"] == {"cents": 0, "count": 0}
    assert [row["currency"] for row in body["currencies"]] == ["eur", "usd"]
    assert (body["payment_failures"], body["invoices_failing"]) == (1, 1)


def test_billing_summary_for_a_month_and_for_a_range(staff_api):
    _invoices()
    february = staff_api.get(SUMMARY, {"month": "2026-02"}).json()
    assert (february["first_day"], february["last_day"]) == ("2026-02-01", "2026-02-28")
    assert february["currencies"][0]["collected"] == {"cents": 800, "count": 1}
    span = staff_api.get(SUMMARY, {"from": "2026-02-27", "to": "2026-03-02"}).json()
    assert span["currencies"] == [
        {
            "currency": "usd",
            "billed": {"cents": 2300, "count": 2},
            "collected": {"cents": 2300, "count": 2},
            "pending": {"cents": 0, "count": 0},
            "failed": {"cents": 0, "count": 0},
            "uncollectible": {"cents": 0, "count": 0},
            "void": {"cents": 0, "count": 0},
        }
    ]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"month": "2026-13"}, "invalid_params"),
        ({"month": "March"}, "invalid_params"),
        ({"from": "2026-02-30", "to": "2026-03-01"}, "invalid_params"),
        ({"month": "2026-03", "from": "2026-03-01", "to": "2026-03-02"}, "month_and_range"),
        ({"from": "2026-03-01"}, "incomplete_range"),
        ({"to": "2026-03-01"}, "incomplete_range"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "reversed_range"),
        ({"from": "2025-01-01", "to": "2026-03-01"}, "range_too_long"),
    ],
)
def test_billing_summary_bad_input_is_a_400_with_a_code(staff_api, params, code):
    response = staff_api.get(SUMMARY, params)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert response.json()["detail"]


def test_billing_summary_queries_do_not_grow(staff_api, django_assert_num_queries):
    for n in range(40):
        invoice(UserFactory(), date(2026, 3, 1) + timedelta(days=n % 28), 100 + n, Invoice.Status.PAID)
    # Authentication is forced (no session or user query): 1 the summary, one grouped query.
    with django_assert_num_queries(1):
        assert staff_api.get(SUMMARY, {"month": "2026-03"}).status_code == 200


def test_claim_stats(staff_api, django_assert_num_queries):
    payer = UserFactory()
    claim(payer, claimed_at=NOW - timedelta(days=2), cents=1500)
    claim(payer, claimed_at=NOW - timedelta(hours=1), cents=1000, currency="eur")
    claim(UserFactory(billing_active=False), claimed_at=NOW - timedelta(days=1), cents=700)
    claim(payer, claimed_at=NOW - timedelta(days=5), released_at=NOW - timedelta(days=4))
    claim(payer, claimed_at=NOW - timedelta(days=5), released_at=NOW - timedelta(hours=3), status=Claim.Status.EXPIRED)
    # 1 claims counted by status (along an index), 2 active and today's claims grouped by currency
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(2):
        body = staff_api.get(STATS).json()
    assert body["as_of"].startswith("2026-03-20T12:00:00")
    assert {key: body[key] for key in ("total", "active", "released", "expired", "reassigned")} == {
        "total": 5,
        "active": 3,
        "released": 1,
        "expired": 1,
        "reassigned": 0,
    }
    assert (body["claimed_today"], body["ended_today"], body["active_not_billed"]) == (1, 1, 1)
    assert body["daily_revenue"] == [{"currency": "eur", "cents": 1000}, {"currency": "usd", "cents": 1500}]


def test_system_health_reports_each_dependency_within_the_ping_timeout(staff_api, settings):
    settings.CELERY_PING_TIMEOUT_SECONDS = 0.3
    settings.STRIPE_ENABLED = True
    settings.DIALFIRE_BASE_URL = "https://dialfire.test"
    webhook(NOW - timedelta(minutes=30), valid=True, processed=True)
    webhook(NOW - timedelta(minutes=20), valid=True, processed=False)
    ImportSource.objects.create(
        name=ImportSource.DIALFIRE, last_poll_at=NOW - timedelta(minutes=3), last_success_at=NOW - timedelta(minutes=3)
    )
    cache.set(HEARTBEAT_CACHE_KEY, (NOW - timedelta(seconds=50)).isoformat(), timeout=None)

    with time_machine.travel(NOW, tick=True):
        started = datetime.now(tz=ZoneInfo("UTC"))
        response = staff_api.get(HEALTH)
        elapsed = (datetime.now(tz=ZoneInfo("UTC")) - started).total_seconds()

    assert response.status_code == 200
    body = response.json()
    assert elapsed < 3  # bounded: the ping waits 0.3 s, nothing else waits at all
    assert body["database"]["status"] == "ok" and body["cache"]["status"] == "ok"
    # No worker listens on the test broker: reported, not hung.
    assert body["celery_workers"] == {
        "status": "down",
        "detail": "no worker answered within 0.3 s",
        "at": None,
        "workers": [],
    }
    assert body["beat"]["status"] == "ok" and body["beat"]["at"].startswith("2026-03-20T11:59:10")
    assert body["stripe"]["status"] == "warning"
    assert body["stripe"]["configured"] is True
    assert (body["stripe"]["webhooks_received_24h"], body["stripe"]["webhooks_failed_24h"]) == (2, 1)
    assert body["stripe"]["at"].startswith("2026-03-20T11:40")
    assert body["dialfire"]["status"] == "ok" and body["dialfire"]["at"].startswith("2026-03-20T11:57")
    assert body["status"] == "degraded"


def test_system_health_without_heartbeat_stripe_or_dialfire(staff_api, settings):
    settings.CELERY_PING_TIMEOUT_SECONDS = 0.2
    settings.STRIPE_ENABLED = False
    settings.DIALFIRE_BASE_URL = ""
    body = staff_api.get(HEALTH).json()
    assert body["beat"] == {"status": "down", "detail": "no heartbeat recorded yet", "at": None}
    assert body["stripe"]["status"] == "off" and body["stripe"]["configured"] is False
    assert body["dialfire"]["status"] == "off"
    assert body["status"] == "degraded"  # workers and Beat are down; "off" alone would not degrade it


def test_the_openapi_schema_documents_the_admin_api_and_stays_valid():
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)  # raises on any warning or error
    schema = out.getvalue()
    for path in (SUMMARY, STATS, HEALTH):
        assert f"  {path}:" in schema
    assert "range_too_long" in schema and "HealthCheckStatusEnum" in schema
