"""Staff open the back office, reassign a claim through the intermediate form, and find it in the case's timeline."""

import os
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group, Permission
from django.utils import timezone

from claims import services
from claims.models import Claim
from tests.audit import helpers as h
from tests.e2e.admin_widgets import csp_violations
from tests.factories import CaseFactory, ContactFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# What an operations group holds in production: the back office's apps, plus read access to the audit sources.
STAFF_APPS = ("accounts", "cases", "claims", "billing", "leads")
AUDIT_READS = ("view_event", "view_logentry", "view_accesslog")


def staff_member(email: str):
    group = Group.objects.create(name="Operations")
    group.permissions.set(
        Permission.objects.filter(content_type__app_label__in=STAFF_APPS)
        | Permission.objects.filter(codename__in=AUDIT_READS)
    )
    staff = UserFactory(email=email, role="staff")
    staff.groups.add(group)
    EmailAddress.objects.create(user=staff, email=email, verified=True, primary=True)
    return staff


def history(case, alice, bob, staff) -> None:
    """What happened to the case before today: a download, a refused download, a paid invoice, Stripe's webhook."""
    earlier = timezone.now() - timedelta(days=1)
    h.document_access(case=case, user=alice, when=earlier + timedelta(minutes=5))
    h.document_access(case=case, user=bob, when=earlier + timedelta(minutes=20), refused=True)
    invoice = h.invoice(user=alice, case=case, stripe_id="in_e2e_1")
    h.invoice_event(inv=invoice, when=earlier + timedelta(hours=2))
    h.stripe_event(when=earlier + timedelta(hours=2, minutes=1), object_id="in_e2e_1", customer="cus_e2e")
    h.admin_change(obj=case, by=staff, when=earlier + timedelta(hours=3), message="Changed auction date.")


def test_staff_reassign_a_claim_and_see_it_in_the_case_timeline(live_server, page, login, shot):
    from playwright.sync_api import expect  # with the browser fixtures: Playwright is loaded by browser tests only

    staff = staff_member("ops@example.com")
    alice = UserFactory(email="alice@example.com")
    bob = UserFactory(email="bob@example.com")
    case = CaseFactory(county="Broward", city="Fort Lauderdale", score=88)
    ContactFactory(case=case)
    services.claim_cases(user=alice, case_ids=[case.pk])
    history(case, alice, bob, staff)
    claim = Claim.objects.get(case=case, status="active")

    login(page, staff.email)
    refused = csp_violations(page)
    page.goto(f"{live_server.url}/admin/")
    assert page.locator("#site-name").inner_text() == "JSN back office"
    assert page.locator("h1").first.inner_text() == "Operations"
    for app in ("Claims", "Cases", "Billing", "Leads"):
        page.locator("#content-main").get_by_role("link", name=app, exact=True).first.wait_for()
    shot(page, "audit-1-admin-index")

    page.locator('#content-main a[href="/admin/claims/claim/"]').first.click()
    page.wait_for_url(f"{live_server.url}/admin/claims/claim/")
    page.locator("#changelist-filter").get_by_role("link", name="Active", exact=True).click()
    page.wait_for_url("**status__exact=active**")
    row = page.locator("#result_list tbody tr", has=page.locator(f'input.action-select[value="{claim.pk}"]'))
    assert "alice@example.com" in row.inner_text()
    row.locator("input.action-select").check()
    page.select_option("select[name=action]", "reassign_claims")
    shot(page, "audit-2-claims-selected")
    page.click("button[name=index]")

    page.get_by_role("heading", name="Reassign claims").wait_for()
    assert f"Claim #{claim.pk}" in page.inner_text("#content")
    # The new owner is searched as staff type (never a list of every user): part of the address is enough.
    page.locator("select[name=to_user] + .select2-container .select2-selection").click()
    page.locator(".select2-container--open .select2-search__field").fill("bo")
    results = page.locator(".select2-container--open .select2-results__option")
    expect(results).to_have_text(["bob@example.com (0 of 50 claims)"])  # alice and ops do not match "bo"
    shot(page, "audit-3-reassign-form-search")
    results.first.click()
    page.fill("input[name=reason]", "Territory change: Broward moves to Bob")
    shot(page, "audit-3-reassign-form")
    page.click("input[name=apply]")
    page.get_by_text("Reassigned 1 claim to bob@example.com.").wait_for()
    new_claim = Claim.objects.get(case=case, status="active")
    assert new_claim.user == bob
    assert refused() == []  # the widget runs from static files: nothing refused by the CSP

    page.locator("#result_list").get_by_role("link", name="Timeline").first.click()
    page.wait_for_url(f"{live_server.url}/admin/audit/case/{case.pk}/")
    newest = page.locator(".tl-entry").first
    text = newest.inner_text()
    assert f"Reassigned: case #{case.pk}" in text
    assert "alice@example.com → bob@example.com" in text
    assert "Territory change: Broward moves to Bob" in text
    assert "by ops@example.com" in text
    assert newest.get_attribute("data-kind") == "claim"
    kinds = page.locator(".tl-entry").evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds == ["claim", "claim", "admin", "stripe", "invoice", "document", "document"]
    assert "Held by bob@example.com" in page.inner_text(".tl-head")
    shot(page, "audit-4-case-timeline")

    # Filter to claims only: the two claim events remain.
    page.locator("label.tl-kind-choice", has_text="Admin changes").locator("input").uncheck()
    for label in ("Document access", "Invoice status", "Stripe webhooks"):
        page.locator("label.tl-kind-choice", has_text=label).locator("input").uncheck()
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**kind=claim**")
    assert page.locator(".tl-entry").evaluate_all("rows => rows.map(r => r.dataset.kind)") == ["claim", "claim"]
    shot(page, "audit-5-case-timeline-claims-only")

    page.locator(".tl-head").get_by_role("link", name="bob@example.com").click()
    page.wait_for_url(f"{live_server.url}/admin/audit/user/{bob.pk}/")
    body = page.inner_text(".tl-list")
    assert "Reassigned" in body and "refused" in body
    shot(page, "audit-6-user-timeline")
