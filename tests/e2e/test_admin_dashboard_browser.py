"""Staff log in, open /admin/ and see the operations dashboard: figures, three SVG charts, scheduled jobs.

The history comes from backoffice.demo (ended claims billed by the real billing run), today's claims from the claim
service, today's leads from the lead importer, and the jobs' last runs from a real "Run now" through Celery (eager).
The screenshot is saved under test-output/screenshots/admin-dashboard.png.
"""

import os
import random

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from accounts.models import User
from backoffice.demo import demo_history_seed
from backoffice.jobs import job_run_now
from backoffice.models import JobRun
from cases.models import Case
from claims.services import claim_cases
from jsn.celery import app as celery_app
from leads.models import PlzSubscription
from tests.backoffice.builders import lead
from tests.factories import UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def _world() -> User:
    rng = random.Random(7)
    states = ["FL", "TX", "CA", "OH", "GA", "NY"]
    Case.objects.bulk_create(
        Case(case_number=f"E2E-{n}", state=rng.choice(states), county="Demo", city="Demo", score=rng.randint(5, 99))
        for n in range(260)
    )
    subscribers = [UserFactory(email=f"investor{n}@example.com") for n in range(3)]
    demo_history_seed(users=subscribers, cases=list(Case.objects.order_by("pk")), failing=subscribers[2])
    # Today: two subscribers claim open cases through the claim service.
    open_cases = list(Case.objects.filter(assigned_to__isnull=True).order_by("-score").values_list("pk", flat=True))
    claim_cases(user=subscribers[0], case_ids=open_cases[:9])
    claim_cases(user=subscribers[1], case_ids=open_cases[9:14])
    now = timezone.now()
    for plz, n in (("10115", 7), ("20095", 5), ("80331", 4), ("50667", 2), ("60311", 1)):
        for _ in range(n):
            lead(plz, now - timezone.timedelta(days=rng.randint(0, 80), hours=1))
    lead(None, now, "review")
    for plz in ("10115", "20095", "80331"):
        PlzSubscription.objects.create(user=subscribers[0], plz=plz, status="active", source="manual")
    staff = UserFactory(email="ops@example.com", role="staff", is_superuser=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    for job in ("heartbeat", "expire-claims", "send-due-lead-deliveries", "check-plz-subscriptions"):
        job_run_now(job=job, actor=staff)  # real tasks, run eagerly: their runs are recorded by the signals
    return staff


def test_staff_sees_the_operations_dashboard_with_charts(live_server, page, login, shot, eager_celery, settings):
    settings.DIALFIRE_BASE_URL = ""
    staff = _world()
    assert JobRun.objects.filter(status="success").count() == 4

    login(page, staff.email)
    page.goto(f"{live_server.url}/admin/")

    assert page.locator("h1").first.inner_text() == "Operations"
    assert page.locator('[data-figure="claims-active"]').inner_text() == "14"
    assert page.locator('[data-figure="leads-imported-today"]').inner_text() == "1"
    assert page.locator('[data-figure="leads-awaiting-review"]').inner_text() == "1"
    assert page.locator('[data-figure="invoices-failing"]').inner_text() == "1"
    revenue = page.locator('[data-figure="revenue-90d-usd"]').inner_text()
    assert revenue.startswith("$") and revenue != "$0.00"
    # Three server-rendered charts, each with drawn marks (no script involved: the CSP forbids inline scripts).
    for chart in ("revenue", "claims", "plz"):
        svg = page.locator(f'[data-chart="{chart}"] svg')
        assert svg.count() == 1 and svg.bounding_box()["height"] > 60
        assert svg.locator("rect, polyline").count() > 3
    assert "10115" in page.locator('[data-chart="plz"]').inner_text()
    assert page.locator('[data-job="heartbeat"] .bo-badge').inner_text() == "ok"
    assert page.locator('[data-figure="last-success-bill-daily"]').inner_text() == "never"
    assert page.locator("text=All records").is_visible()
    path = shot(page, "admin-dashboard")
    assert path.stat().st_size > 20_000
