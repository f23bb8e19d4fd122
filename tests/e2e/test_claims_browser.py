"""A subscriber selects three cases, claims them, sees them unmasked, releases one and sees it masked again."""

import os

import pytest
from allauth.account.models import EmailAddress

from claims.models import Claim
from tests.factories import CaseFactory, ContactFactory, UserFactory

# pytest-django's live_server with Playwright's sync API: the ORM is used from a thread with an event loop.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def row(page, case):
    return page.locator(f'#case-results tr[data-case-id="{case.pk}"]')


def test_subscriber_claims_three_cases_then_releases_one(live_server, page, login, shot):
    user = UserFactory(email="claimer@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    cases = [CaseFactory(score=90 - i, county="Broward", city="Fort Lauderdale") for i in range(4)]
    for case in cases:
        ContactFactory(case=case)
    picked, untouched = cases[:3], cases[3]

    login(page, user.email)
    page.goto(f"{live_server.url}/cases/")
    for case in cases:
        assert case.street not in row(page, case).inner_text()
        assert "Address hidden" in row(page, case).inner_text()
    for case in picked:
        page.check(f'input[name=case_ids][value="{case.pk}"]')
    shot(page, "claims-1-selected")

    page.click("text=Claim selected")
    page.wait_for_selector('#claim-results [data-outcome="claimed"] >> nth=2')
    assert page.locator('#claim-results [data-outcome="claimed"]').count() == 3
    # The table reloads itself after the claim: the three streets appear at once, the fourth stays hidden.
    for case in picked:
        row(page, case).get_by_text(case.street).wait_for()
        assert "Yours" in row(page, case).inner_text()
    assert untouched.street not in row(page, untouched).inner_text()
    assert page.locator("#nav-claims").inner_text() == "My claims (3)"
    shot(page, "claims-2-claimed-unmasked")

    released = picked[1]
    page.check(f'input[name=case_ids][value="{released.pk}"]')
    questions: list[str] = []
    page.once("dialog", lambda d: (questions.append(d.message), d.accept()))
    page.click("text=Release selected")
    page.wait_for_selector(f'#claim-results [data-case-id="{released.pk}"][data-outcome="released"]')
    row(page, released).get_by_text("Address hidden").wait_for()
    assert released.street not in row(page, released).inner_text()
    for case in (picked[0], picked[2]):
        assert case.street in row(page, case).inner_text()
    assert page.locator("#nav-claims").inner_text() == "My claims (2)"
    assert questions == [
        "Release the selected cases? Their details are hidden again at once, and another subscriber can claim them."
    ]
    shot(page, "claims-3-one-released-masked")

    page.goto(f"{live_server.url}/cases/{released.pk}/")
    body = page.inner_text("body")
    assert released.street not in body and released.case_number not in body
    assert "Claim this case" in body
    page.goto(f"{live_server.url}/claims/")
    body = page.inner_text("body")
    assert picked[0].street in body and picked[2].street in body and released.street not in body
    shot(page, "claims-4-my-claims")
    assert sorted(Claim.objects.filter(status="active").values_list("case_id", flat=True)) == sorted(
        [picked[0].pk, picked[2].pk]
    )
