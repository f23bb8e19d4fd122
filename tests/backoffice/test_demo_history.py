"""seed_demo gives the operations dashboard a history to show, billed by the real billing run, and stays idempotent."""

from datetime import timedelta

import pytest
from django.core.management import call_command

from accounts.models import User
from backoffice import metrics
from billing.models import Invoice
from billing.services import billing_today
from cases.management.commands.seed_demo import DEMO_HELD_CLAIMS, DEMO_HOLDER
from cases.models import Case
from claims.models import Claim, ClaimEvent
from tests.billing.helpers import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_seed_demo_leaves_a_billed_history_and_only_the_demo_holder_holding_cases(settings, client):
    settings.DEMO_MODE = True
    call_command("seed_demo")

    history = Claim.objects.exclude(user__email=DEMO_HOLDER)
    assert history.count() >= 100
    assert not history.filter(status=Claim.Status.ACTIVE).exists()
    held_now = Claim.objects.filter(status=Claim.Status.ACTIVE)
    assert set(held_now.values_list("user__email", flat=True)) == {DEMO_HOLDER}
    assert held_now.count() == DEMO_HELD_CLAIMS
    assert set(Case.objects.filter(assigned_to__isnull=False).values_list("pk", flat=True)) == set(
        held_now.values_list("case_id", flat=True)
    )
    # Every claim has its audit trail: one "claimed" event, and one "released" for each ended claim.
    assert ClaimEvent.objects.count() == 2 * history.count() + DEMO_HELD_CLAIMS
    assert set(history.values_list("user__email", flat=True)) == {
        "alice@jsn.local",
        "bob@jsn.local",
        "agent.nord@example.com",
    }
    assert_ledger_consistent()
    today = billing_today()
    series = metrics.revenue_by_day(first_day=today - timedelta(days=89), last_day=today)
    assert sum(1 for cents in series.by_currency[settings.DEFAULT_CURRENCY] if cents > 0) >= 80  # billed most days
    held = metrics.claims_by_day(first_day=today - timedelta(days=89), last_day=today).held
    assert held[-1] == DEMO_HELD_CLAIMS and max(held) >= 20  # only Carol's today, a real book of claims before
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
