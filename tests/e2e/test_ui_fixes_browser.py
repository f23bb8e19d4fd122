"""On a phone a row's status, selection box and Release button are on screen without scrolling sideways; a double
click on a claim or release button sends one request and the page ends with that request's answer."""

import time
from collections.abc import Callable

import pytest
from allauth.account.models import EmailAddress

from claims import services
from claims.models import Claim
from tests.e2e.conftest import PHONE
from tests.factories import CaseFactory, ContactFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def subscriber():
    user = UserFactory(email="ui-fixes@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def make_cases(n: int) -> list:
    cases = [
        CaseFactory(score=90 - i, county="Miami-Dade", city="Hialeah Gardens", street=f"{1000 + i} Very Long Avenue")
        for i in range(n)
    ]
    for case in cases:
        ContactFactory(case=case)
    return cases


def on_screen(locator, viewport: dict) -> bool:
    box = locator.bounding_box()
    return (
        box is not None
        and box["x"] >= 0
        and box["x"] + box["width"] <= viewport["width"]
        and box["width"] > 0
        and box["height"] > 0
    )


@pytest.fixture
def slow_server(monkeypatch):
    """Claims and releases take half a second on the server: the second click of a double click then always lands
    while the first request is in flight, as it does for a person on a slow connection (a test that passes by
    luck of timing proves nothing)."""

    def slow(work: Callable) -> Callable:
        def run(**kwargs):
            time.sleep(0.5)
            return work(**kwargs)

        return run

    monkeypatch.setattr(services, "claim_cases", slow(services.claim_cases))
    monkeypatch.setattr(services, "claim_release", slow(services.claim_release))


def double_click(locator) -> None:
    """A person's double click: two clicks some 160 ms apart (Playwright's dblclick sends both at once)."""
    locator.click(click_count=2, delay=80)


def posts_to(page, path: str) -> list[str]:
    """The POST requests the page sends to path from now on (filled in as they happen)."""
    seen: list[str] = []
    page.on("request", lambda r: r.method == "POST" and r.url.endswith(path) and seen.append(r.url))
    return seen


def test_on_a_phone_status_checkbox_and_release_are_on_screen(live_server, phone, login, subscriber, shot):
    mine, free = make_cases(2)
    services.claim_cases(user=subscriber, case_ids=[mine.pk])
    login(phone, subscriber.email)

    phone.goto(f"{live_server.url}/cases/")
    for case, status in ((mine, "Yours"), (free, "Open to claim")):
        row = phone.locator(f'#case-results tr[data-case-id="{case.pk}"]')
        cell = row.locator("td").last
        assert cell.inner_text().strip() == status
        assert on_screen(cell, PHONE), status
        assert on_screen(row.locator("input[name=case_ids]"), PHONE)
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    shot(phone, "ui-fixes-1-cases-phone")

    # Selecting on a phone still works: check a box, claim, the row says "Yours".
    phone.check(f'input[name=case_ids][value="{free.pk}"]')
    phone.click("text=Claim selected")
    phone.wait_for_selector(f'#claim-results [data-case-id="{free.pk}"][data-outcome="claimed"]')
    phone.locator(f'#case-results tr[data-case-id="{free.pk}"] td:last-child').get_by_text("Yours").wait_for()

    phone.goto(f"{live_server.url}/claims/")
    for case in (mine, free):
        assert on_screen(phone.locator(f'tr[data-case-id="{case.pk}"] button:has-text("Release")'), PHONE)
    shot(phone, "ui-fixes-2-claims-phone")


def test_the_desktop_table_is_not_pinned(live_server, page, login, subscriber):
    (case,) = make_cases(1)
    login(page, subscriber.email)
    page.goto(f"{live_server.url}/cases/")
    status = page.locator(f'#case-results tr[data-case-id="{case.pk}"] td').last
    assert status.evaluate("td => getComputedStyle(td).position") == "static"


def test_double_click_on_release_this_case_releases_once_and_says_released(
    live_server, page, login, subscriber, shot, slow_server
):
    (case,) = make_cases(1)
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    login(page, subscriber.email)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    assert "Daily price" in page.locator(".claim-actions").inner_text()

    questions: list[str] = []
    page.on("dialog", lambda d: (questions.append(d.message), d.accept()))
    releases = posts_to(page, "/claims/release/")
    double_click(page.get_by_role("button", name="Release this case"))
    page.wait_for_selector(".messages .msg")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # a second request, had one been sent, would have replaced this page by now

    assert len(releases) == 1
    assert len(questions) == 1 and questions[0].startswith(f"Release case #{case.pk}?")
    messages = page.locator(".messages .msg").all_inner_texts()
    assert messages == [f"Case #{case.pk} (Miami-Dade County, FL): Released — details hidden again"]
    assert Claim.objects.get(case=case).status == Claim.Status.RELEASED
    assert page.get_by_role("button", name="Claim this case").is_enabled()
    shot(page, "ui-fixes-3-detail-released")


def test_cancelling_the_question_keeps_the_case(live_server, page, login, subscriber):
    (case,) = make_cases(1)
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    login(page, subscriber.email)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    page.on("dialog", lambda d: d.dismiss())
    releases = posts_to(page, "/claims/release/")
    page.click("text=Release this case")
    page.wait_for_timeout(300)
    assert releases == []
    assert page.get_by_role("button", name="Release this case").is_enabled()  # still usable after "Cancel"
    assert Claim.objects.get(case=case).status == Claim.Status.ACTIVE


def test_double_click_on_claim_this_case_claims_once(live_server, page, login, subscriber, slow_server):
    (case,) = make_cases(1)
    login(page, subscriber.email)
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    claims = posts_to(page, "/claims/claim/")
    double_click(page.get_by_role("button", name="Claim this case"))
    page.wait_for_selector(".messages .msg")
    page.wait_for_timeout(300)
    assert len(claims) == 1
    assert page.locator(".messages .msg").all_inner_texts() == [
        f"Case #{case.pk} (Miami-Dade County, FL): Claimed — details unlocked"
    ]


def test_double_click_on_the_bulk_buttons_sends_one_request_each(live_server, page, login, subscriber, slow_server):
    a, b = make_cases(2)
    login(page, subscriber.email)
    page.goto(f"{live_server.url}/cases/")
    claims = posts_to(page, "/claims/claim/")
    releases = posts_to(page, "/claims/release/")
    for case in (a, b):
        page.check(f'input[name=case_ids][value="{case.pk}"]')
    double_click(page.locator("text=Claim selected"))
    page.wait_for_selector('#claim-results [data-outcome="claimed"] >> nth=1')
    page.wait_for_timeout(300)
    assert len(claims) == 1
    assert page.locator("#claim-results [data-outcome]").count() == 2

    page.locator(f'#case-results tr[data-case-id="{b.pk}"]').get_by_text("Yours").wait_for()  # the table reloaded
    page.check(f'input[name=case_ids][value="{a.pk}"]')
    questions: list[str] = []
    page.on("dialog", lambda d: (questions.append(d.message), d.accept()))
    double_click(page.locator("text=Release selected"))
    page.wait_for_selector(f'#claim-results [data-case-id="{a.pk}"][data-outcome="released"]')
    page.wait_for_timeout(300)
    assert len(releases) == 1
    assert page.locator("#claim-results").inner_text().count("Released — details hidden again") == 1
    assert page.get_by_role("button", name="Release selected").is_enabled()  # usable again once answered
    assert list(Claim.objects.filter(status="active").values_list("case_id", flat=True)) == [b.pk]
    assert questions and all(q.startswith("Release the selected cases?") for q in questions)


def test_double_click_on_release_in_my_claims_on_a_phone_releases_once(
    live_server, phone, login, subscriber, slow_server
):
    a, b = make_cases(2)
    services.claim_cases(user=subscriber, case_ids=[a.pk, b.pk])
    login(phone, subscriber.email)
    phone.goto(f"{live_server.url}/claims/")
    releases = posts_to(phone, "/claims/release/")
    questions: list[str] = []
    phone.on("dialog", lambda d: (questions.append(d.message), d.accept()))
    double_click(phone.locator(f'tr[data-case-id="{a.pk}"] button:has-text("Release")'))
    phone.wait_for_selector(".messages .msg")
    phone.wait_for_timeout(300)
    assert len(releases) == 1
    assert phone.locator(".messages .msg").all_inner_texts() == [
        f"Case #{a.pk} (Miami-Dade County, FL): Released — details hidden again"
    ]
    assert len(questions) == 1 and questions[0].startswith(f"Release case #{a.pk}?")  # asked once, not per click
    assert phone.locator("#nav-claims").inner_text() == "My claims (1)"
