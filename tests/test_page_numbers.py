"""`?page=` on list pages and the API: what is not a plain page number never picks a page by surprise."""

import pytest

from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty_cases():
    return CaseFactory.create_batch(30)  # two pages of 25 on /cases/


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "٥", "1_0", "", "²"])
def test_a_page_that_is_no_plain_number_shows_the_first_page(client, subscriber, thirty_cases, raw):
    client.force_login(subscriber)
    response = client.get("/cases/", {"page": raw})
    assert response.status_code == 200 and response.context["page"].number == 1


def test_past_the_last_page_shows_the_last_page(client, subscriber, thirty_cases):
    client.force_login(subscriber)
    assert client.get("/cases/", {"page": "99"}).context["page"].number == 2
    assert client.get("/cases/", {"page": "2"}).context["page"].number == 2


@pytest.mark.parametrize("raw", ["1_0", "٥", " 5", "+5", "0", "-1"])
def test_the_api_refuses_a_page_that_is_no_plain_number(api_client, subscriber, thirty_cases, raw):
    api_client.force_authenticate(subscriber)
    for url in ("/api/v3/cases", "/api/v3/claims", "/api/v3/billing/invoices"):
        response = api_client.get(url, {"page": raw})
        assert (response.status_code, response.json()["code"]) == (400, "invalid"), (url, raw)


def test_the_billing_page_starts_at_page_one_for_page_zero(client, subscriber):
    client.force_login(subscriber)
    response = client.get("/billing/", {"page": "0"})
    assert response.status_code == 200 and response.context["page"].number == 1
