"""A subscriber logs in, filters the case list and opens a case — in headless Chromium."""

import pytest
from allauth.account.models import EmailAddress

from tests.factories import CaseFactory, ContactFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_subscriber_filters_cases_and_opens_one(live_server, page, login, shot):
    user = UserFactory(email="alice@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    tx = CaseFactory(state="TX", county="Harris", city="Houston", score=91)
    ContactFactory(case=tx)
    CaseFactory(state="FL", county="Orange", city="Orlando", score=35)

    login(page, "alice@example.com")
    shot(page, "cases-01-dashboard")
    page.click("text=Cases")
    page.wait_for_selector("table.cases")
    assert page.locator("table.cases tbody tr").count() == 2

    page.fill("input[name=state]", "TX")
    page.click("button:has-text('Apply filters')")
    page.wait_for_selector("text=1 case found")
    assert "Orlando" not in page.inner_text("#case-results")
    shot(page, "cases-02-filtered")

    page.click("table.cases tbody tr >> a")
    page.wait_for_selector("h1:has-text('Address hidden until claimed')")
    body = page.inner_text("body")
    assert tx.street not in body and tx.case_number not in body
    assert "1 contact, 2 phones, 1 e-mail on file" in body
    shot(page, "cases-03-detail-masked")


def test_an_invalid_filter_shows_its_error_and_leaves_the_list(live_server, page, login, shot):
    user = UserFactory(email="filters@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    CaseFactory(state="TX", score=91)
    CaseFactory(state="FL", score=35)

    login(page, user.email)
    page.goto(f"{live_server.url}/cases/")
    page.wait_for_selector("text=2 cases found")
    page.fill("input[name=score_min]", "80")
    page.fill("input[name=score_max]", "20")
    page.click("button:has-text('Apply filters')")
    page.wait_for_selector("#filter-errors .msg.error")
    assert "must not be above" in page.inner_text("#filter-errors")
    assert "2 cases found" in page.inner_text("#case-results")  # the list as it was
    assert page.url == f"{live_server.url}/cases/"  # the invalid query is not pushed into the address bar
    assert page.locator("table.cases tbody tr").count() == 2
    shot(page, "cases-04-invalid-filter")

    page.fill("input[name=score_max]", "")
    page.click("button:has-text('Apply filters')")
    page.wait_for_selector("text=1 case found")
    assert page.inner_text("#filter-errors").strip() == ""  # the error goes once the filters are valid


def test_a_bad_filter_in_the_address_is_shown_back_in_the_form(live_server, page, login, shot):
    user = UserFactory(email="address@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    CaseFactory(state="TX", score=91)

    login(page, user.email)
    response = page.goto(f"{live_server.url}/cases/?stage=sold_yesterday&score_min=abc&sort=street")
    assert response.status == 400
    errors = page.locator("#filter-errors p").all_inner_texts()
    assert errors[0] == "Filtering, searching or sorting by street is only available to the case's owner."
    assert not any(e.startswith("Sort:") for e in errors)  # the refusal once, not "not a valid choice" as well
    # What the address asked for stays visible where it was rejected, not "Any stage" and an empty box.
    stage = page.locator("select[name=stage]")
    assert stage.evaluate("s => s.options[s.selectedIndex].text") == "sold_yesterday (not an option)"
    assert page.input_value("input[name=score_min]") == "abc"
    assert stage.get_attribute("aria-invalid") == "true"
    shot(page, "cases-05-bad-filter-in-address")

    page.select_option("select[name=stage]", "")
    page.fill("input[name=score_min]", "50")
    page.select_option("select[name=sort]", "-score")
    page.click("button:has-text('Apply filters')")
    page.wait_for_selector("text=1 case found")
    assert page.inner_text("#filter-errors").strip() == ""
