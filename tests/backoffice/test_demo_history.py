"""seed_demo gives the operations dashboard a history to show, billed by the real billing run, and stays idempotent."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts.models import User
from backoffice import metrics
from billing.models import Invoice
from billing.services import billing_today
from cases.models import Case
from claims.models import Claim, ClaimEvent
from tests.billing.helpers import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_seed_demo_leaves_a_billed_history_and_nobody_holding_a_case(settings, client):
    settings.DEMO_MODE = True
    call_command("seed_demo")

    claims = Claim.objects.all()
    assert claims.count() >= 100
    assert not claims.filter(status=Claim.Status.ACTIVE).exists()
    assert not Case.objects.filter(assigned_to__isnull=False).exists()
    # Every claim has its audit trail: one "claimed" and one "released" event.
    assert ClaimEvent.objects.count() == 2 * claims.count()
    assert set(claims.values_list("user__email", flat=True)) == {
        "alice@jsn.local",
        "bob@jsn.local",
        "agent.nord@example.com",
    }
    assert_ledger_consistent()
    today = billing_today()
    series = metrics.revenue_by_day(first_day=today - timedelta(days=89), last_day=today)
    assert sum(1 for cents in series.by_currency[settings.DEFAULT_CURRENCY] if cents > 0) >= 80  # billed most days
    held = metrics.claims_by_day(first_day=today - timedelta(days=89), last_day=today).held
    assert held[-1] == 0 and max(held) >= 20  # nothing held today, a real book of claims before
    assert Invoice.objects.filter(status=Invoice.Status.PAID).count() >= 50
    failed = Invoice.objects.get(status=Invoice.Status.FAILED)
    assert failed.user.email == "agent.nord@example.com"
    assert failed.events.filter(to_status=Invoice.Status.FAILED).exists()  # through the audited status service

    # The demo staff member sees the dashboard's history and may open (and run) the scheduled jobs.
    client.force_login(User.objects.get(email="staff@jsn.local"))
    home = client.get("/admin/").content.decode()
    assert 'data-figure="invoices-failing">1<' in home
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert client.get("/admin/backoffice/jobrun/").status_code == 200

    before = (Claim.objects.count(), Invoice.objects.count())
    call_command("seed_demo")
    assert (Claim.objects.count(), Invoice.objects.count()) == before
