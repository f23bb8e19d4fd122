"""On a phone (390 px wide) the subscriber's pages fit the screen: wide tables scroll sideways in their own box,
the page itself never does, and claiming and releasing work there as on a desktop."""

import os
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from claims import services
from tests.backoffice import builders
from tests.e2e.conftest import PHONE
from tests.factories import CaseFactory, ContactFactory, UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_subscriber_pages_fit_a_phone_and_claiming_works_there(live_server, phone, login, shot):
    user = UserFactory(email="phone@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    cases = [
        CaseFactory(score=90 - i, county="Miami-Dade", city="Hialeah Gardens", street=f"{1000 + i} Very Long Avenue")
        for i in range(3)
    ]
    for case in cases:
        ContactFactory(case=case)
    services.claim_cases(user=user, case_ids=[cases[0].pk])
    builders.invoice(user, timezone.localdate() - timedelta(days=1), 500)

    login(phone, user.email)
    for path in ("/dashboard/", "/cases/", f"/cases/{cases[0].pk}/", "/claims/", "/billing/", "/leads/"):
        phone.goto(f"{live_server.url}{path}")
        assert page_width(phone) <= PHONE["width"], path
    shot(phone, "mobile-1-claims")

    phone.goto(f"{live_server.url}/cases/")
    shot(phone, "mobile-2-cases")
    phone.check(f'input[name=case_ids][value="{cases[1].pk}"]')
    phone.click("text=Claim selected")
    phone.wait_for_selector(f'#claim-results [data-case-id="{cases[1].pk}"][data-outcome="claimed"]')
    assert phone.locator("#nav-claims").inner_text() == "My claims (2)"
    assert page_width(phone) <= PHONE["width"]

    phone.goto(f"{live_server.url}/claims/")
    wrap = phone.locator(".table-wrap:has(table.claims)").first
    assert wrap.evaluate("w => w.scrollWidth > w.clientWidth")  # the table scrolls inside its wrapper
    assert phone.locator("table.claims").first.evaluate("t => getComputedStyle(t).display") == "table"  # still a table
    phone.once("dialog", lambda d: d.accept())  # "Release case #…?"
    phone.locator(f'tr[data-case-id="{cases[0].pk}"] button:has-text("Release")').click()  # scrolled into view
    phone.wait_for_url(f"{live_server.url}/claims/")
    assert phone.locator("#nav-claims").inner_text() == "My claims (1)"
    assert page_width(phone) <= PHONE["width"]
    shot(phone, "mobile-3-released")
