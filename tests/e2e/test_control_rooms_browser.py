"""Staff in a real browser: the claims control room reassigns a claim through the intermediate form, the billing
control room marks an invoice paid with a reason; screenshots of both rooms are saved."""

import os
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from billing.models import Invoice, InvoiceEvent
from claims import services
from claims.models import Claim, ClaimEvent
from tests.backoffice import builders
from tests.e2e.admin_widgets import choose_in_autocomplete, csp_violations
from tests.factories import CaseFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_staff_reassigns_a_claim_and_marks_an_invoice_paid(live_server, page, login, shot):
    boss = _verified(UserFactory(email="boss@example.com", is_superuser=True))
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    cases = CaseFactory.create_batch(3, county="Broward")
    services.claim_cases(user=alice, case_ids=[c.pk for c in cases])
    moved = Claim.objects.filter(case=cases[0]).get()
    today = timezone.now().date()
    for n in range(3):
        builders.invoice(alice, today - timedelta(days=n + 1), 1500 * (n + 1))
    invoice = Invoice.objects.order_by("invoice_date").first()

    login(page, boss.email)
    refused = csp_violations(page)
    page.goto(f"{live_server.url}/admin/claims/")
    assert page.locator('[data-figure="active"]').inner_text() == "3"
    shot(page, "control-room-claims")
    page.check(f'#claim-list input[name=_selected_action][value="{moved.pk}"]')
    page.click("button[name=op][value=reassign]")
    page.get_by_text("Reassign these active claims").wait_for()
    choose_in_autocomplete(page, name="to_user", term="bob@", option=bob.email)
    page.fill("input[name=reason]", "alice asked us to move it")
    shot(page, "control-room-claims-reassign-form")
    page.click("input[name=apply]")
    page.get_by_text("Reassigned 1 claim to bob@example.com.").wait_for()
    assert page.url.startswith(f"{live_server.url}/admin/claims/")
    new = Claim.objects.get(case=cases[0], status="active")
    assert new.user == bob
    event = ClaimEvent.objects.get(action="reassigned")
    assert (event.actor, event.from_user, event.to_user) == (boss, alice, bob)
    assert event.reason == "alice asked us to move it"
    assert refused() == []

    page.goto(f"{live_server.url}/admin/billing/?month={invoice.invoice_date:%Y-%m}")
    page.locator("#billing-totals").wait_for()
    shot(page, "control-room-billing")
    page.check(f'#invoice-list input[name=_selected_action][value="{invoice.pk}"]')
    page.select_option("select[name=to_status]", "paid")
    page.fill("textarea[name=reason]", "wire received 2026-06-01")
    page.click("text=Apply to selected invoices")
    page.get_by_text("Mark paid: 1 invoice(s).").wait_for()
    invoice.refresh_from_db()
    assert invoice.status == "paid"
    assert InvoiceEvent.objects.get().reason == "wire received 2026-06-01"
    shot(page, "control-room-billing-after-mark-paid")
