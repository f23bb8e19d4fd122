"""The admin home page: staff see the operations dashboard with exact figures, in a fixed number of queries."""

import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.core.cache import cache

from backoffice.models import JobRun
from billing.models import Invoice
from cases.models import Case
from claims.models import Claim
from jsn.lib.health import HEARTBEAT_CACHE_KEY
from leads.models import ImportSource, Lead, PlzSubscription
from tests.backoffice.builders import claim, delivery, failed_once, invoice, lead, line, webhook
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

UTC = ZoneInfo("UTC")
NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)


def figure(html: str, name: str) -> str:
    match = re.search(rf'data-figure="{re.escape(name)}">([^<]*)<', html)
    assert match, f"no figure {name!r} on the page"
    return match.group(1).strip()


def chart_svg(html: str, name: str) -> str:
    match = re.search(rf'data-chart="{name}".*?</svg>', html, re.S)
    assert match, f"no chart {name!r} on the page"
    return match.group(0)


@pytest.fixture
def staff_client(client):
    """A staff member as the demo seeds them: in the Staff group with the back office's model permissions."""
    staff = UserFactory(email="ops@example.com", role="staff")
    group = Group.objects.create(name="Staff")
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label__in=["claims", "billing", "leads", "cases"])
    )
    staff.groups.add(group)
    client.force_login(staff)
    return client


def known_world() -> None:
    """The data set whose figures the dashboard must show (numbers worked out in the assertions)."""
    payer = UserFactory(email="payer@example.com")
    free = UserFactory(email="free@example.com", billing_active=False)
    # Cases: 4 available (these 3 and the released claim's), 2 claimed (by the active claims below), 1 closed.
    CaseFactory(state="FL")
    CaseFactory(state="FL")
    CaseFactory(state="TX")
    CaseFactory(state="TX", status=Case.Status.CLOSED)
    claim(payer, claimed_at=NOW - timedelta(days=3), cents=1500, case=CaseFactory(state="FL"))
    claim(free, claimed_at=NOW - timedelta(hours=2), cents=500, case=CaseFactory(state="TX"))  # billing off
    claim(payer, claimed_at=NOW - timedelta(days=10), released_at=NOW - timedelta(days=9))
    # Invoices dated this month (March 2026): billed 1500 + 2500 + 700 = 4700; collected 2500; pending 1500; failed 700.
    first = invoice(payer, date(2026, 3, 17), 1500, Invoice.Status.OPEN)
    line(first, date(2026, 3, 16), 1500)
    paid = invoice(payer, date(2026, 3, 18), 2500, Invoice.Status.PAID)
    line(paid, date(2026, 3, 17), 2500)
    failed = invoice(payer, date(2026, 3, 19), 700, Invoice.Status.FAILED)
    line(failed, date(2026, 3, 18), 700)
    failed_once(failed)
    failed_once(invoice(payer, date(2026, 2, 10), 900, Invoice.Status.FAILED))  # last month: still failing
    # Leads today: 3 imported (one for review), 2 delivered.
    with time_machine.travel(NOW, tick=False):
        todays = [lead("10115", NOW - timedelta(hours=3)), lead("10115", NOW - timedelta(hours=2))]
        lead(None, NOW - timedelta(hours=1), Lead.Status.REVIEW)
        lead("20095", NOW - timedelta(days=5))
        delivery(todays[0], "sent", sent_at=NOW - timedelta(hours=2))
        delivery(todays[1], "delivered", sent_at=NOW - timedelta(hours=1))
    PlzSubscription.objects.create(user=payer, plz="10115", status="active", source="manual")
    webhook(NOW - timedelta(hours=1), valid=True, processed=False)
    ImportSource.objects.create(
        name=ImportSource.DIALFIRE,
        last_poll_at=NOW - timedelta(minutes=5),
        last_success_at=NOW - timedelta(minutes=5),
        imported_total=42,
    )
    JobRun.objects.create(
        job="heartbeat",
        task="jsn.tasks.heartbeat_task",
        task_id="t-1",
        trigger="beat",
        status="success",
        started_at=NOW - timedelta(seconds=40),
        finished_at=NOW - timedelta(seconds=39),
    )
    JobRun.objects.create(
        job="expire-claims",
        task="claims.tasks.expire_claims_task",
        task_id="t-2",
        trigger="beat",
        status="failure",
        started_at=NOW - timedelta(minutes=20),
        finished_at=NOW - timedelta(minutes=20),
        error="OperationalError: boom",
    )
    cache.set(HEARTBEAT_CACHE_KEY, (NOW - timedelta(seconds=40)).isoformat(), timeout=None)


def test_dashboard_shows_the_known_figures(staff_client, settings):
    settings.DIALFIRE_BASE_URL = "https://dialfire.test"
    settings.STRIPE_ENABLED = True
    known_world()
    with time_machine.travel(NOW, tick=False):
        response = staff_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert figure(html, "today") == "Fri 20 Mar 2026"
    assert figure(html, "claims-active") == "2"
    assert figure(html, "claims-daily-revenue") == "$15.00"  # the billing-off claim adds nothing
    assert figure(html, "cases-available") == "4"
    assert figure(html, "cases-claimed") == "2"
    assert figure(html, "billed-usd") == "$47.00"
    assert figure(html, "collected-usd") == "$25.00"
    assert figure(html, "pending-usd") == "$15.00"
    assert figure(html, "failed-usd") == "$7.00"
    assert figure(html, "invoices-failing") == "2"
    assert figure(html, "leads-imported-today") == "3"
    assert figure(html, "leads-delivered-today") == "2"
    assert figure(html, "leads-awaiting-review") == "1"
    assert figure(html, "revenue-90d-usd") == "$47.00"
    assert figure(html, "claims-90d") == "3"
    assert figure(html, "last-success-heartbeat") == "20 Mar 11:59"
    assert figure(html, "last-success-bill-daily") == "never"
    assert 'data-status="jobs">Jobs: 1 need attention' in html  # expire-claims failed
    assert 'data-status="stripe">Stripe: 1 webhook failure' in html
    assert 'data-status="dialfire">Dialfire: ok' in html
    assert 'data-status="beat">Beat: ok' in html
    # Three charts, server-rendered SVG; the PLZ chart names the PLZ and its subscriber count.
    assert html.count('<svg class="bo-chart"') == 3
    assert "10115: 2 · 1 subscriber" in html
    # The list of models stays reachable below the dashboard.
    assert 'href="/admin/claims/claim/"' in html and "All records" in html
    # The available-cases card opens the case list on exactly those cases.
    assert 'href="/admin/cases/case/?availability=open"' in html
    for value, n in (("open", "4"), ("claimed", "2"), ("unavailable", "1")):
        listed = staff_client.get(f"/admin/cases/case/?availability={value}").content.decode()
        assert f"{n} case{'s' if n != '1' else ''}" in listed, value


def test_dashboard_with_an_empty_database_says_so(staff_client):
    response = staff_client.get("/admin/")
    html = response.content.decode()
    assert response.status_code == 200
    assert figure(html, "claims-active") == "0"
    assert "No invoices dated this month yet" in html
    assert html.count("No data in this period") == 3


def _bulk_world(scale: int) -> None:
    """scale × (cases, claims, invoices with lines, leads with deliveries, webhooks, job runs), spread over 90 days."""
    users = [UserFactory() for _ in range(3)]
    cases = Case.objects.bulk_create(
        [
            Case(case_number=f"B-{scale}-{n}", state=("FL", "TX", "OH")[n % 3], county="X", score=n % 100)
            for n in range(scale)
        ]
    )
    claims = []
    for n, case in enumerate(cases):
        claimed_at = NOW - timedelta(days=n % 90, hours=1)
        active = n % 2 == 0
        claims.append(
            Claim(
                case=case,
                user=users[n % 3],
                status="active" if active else "released",
                claimed_at=claimed_at,
                released_at=None if active else claimed_at + timedelta(hours=5),
                score_at_claim=case.score,
                daily_price_cents=500 + n,
            )
        )
    Claim.objects.bulk_create(claims)
    for n in range(scale // 10):
        day = date(2026, 3, 19) - timedelta(days=n % 80)
        line(invoice(users[n % 3], day + timedelta(days=0), 1000, ("open", "paid", "failed")[n % 3]), day, 1000)
        lead(("10115", "20095", "80331", None)[n % 4], NOW - timedelta(days=n % 80, hours=1))
        webhook(NOW - timedelta(hours=n % 48), valid=True, processed=n % 5 != 0)
        JobRun.objects.create(
            job=("heartbeat", "expire-claims")[n % 2],
            task="x",
            task_id=f"bulk-{scale}-{n}",
            trigger="beat",
            status="success",
            started_at=NOW - timedelta(minutes=n),
            finished_at=NOW - timedelta(minutes=n),
        )


@pytest.mark.parametrize("scale", [30, 600])
def test_dashboard_runs_a_fixed_number_of_queries(staff_client, django_assert_num_queries, scale):
    # Invoice numbers are unique per user and day: keep the bulk world's invoices on distinct days.
    _bulk_world(scale)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(19):
        # 1 session, 2 user
        # 3 revenue: lines in the period and void invoices (counts), 4 revenue per day (nothing cached yet)
        # 5 claims: active, today's and the past days' counts, 6 + 7 claims started / ended per past day (not cached)
        # 8 leads per PLZ, 9 current subscribers of those PLZs
        # 10 billing summary (invoices + failure events), 11 active and today's claims, 12 cases by state
        # 13 leads today, 14 deliveries today
        # 15 Stripe webhook triggers, 16 Dialfire import source
        # 17 periodic tasks with their latest run and latest success
        # 18 + 19 the staff member's permissions (user, group) for the list of models
        response = staff_client.get("/admin/")
    assert response.status_code == 200
    html = response.content.decode()
    assert figure(html, "claims-active") == str((scale + 1) // 2)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(16):
        # The same without 4, 6 and 7: the past days come from the cache, their counts still match.
        again = staff_client.get("/admin/")
    for name in ("claims-active", "claims-90d", "revenue-90d-usd", "invoices-failing"):
        assert figure(again.content.decode(), name) == figure(html, name)
    for chart in ("revenue", "claims"):  # the same bars and lines, day by day
        assert chart_svg(again.content.decode(), chart) == chart_svg(html, chart)


def test_anonymous_is_sent_to_the_login_and_subscribers_get_403(client, subscriber):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    client.force_login(subscriber)
    response = client.get("/admin/", follow=True)  # the admin's own redirect to its login, which refuses them
    assert response.status_code == 403
    assert "Operations" not in response.content.decode()
