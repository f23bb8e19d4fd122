"""The `page` parameter means the same on every paged API list: not a whole number ≥ 1 is a 400, as on the cases."""

import pytest

pytestmark = pytest.mark.django_db

LISTS = ["/api/v3/cases", "/api/v3/claims", "/api/v3/billing/invoices"]


@pytest.fixture
def as_subscriber(api_client, subscriber):
    api_client.force_authenticate(subscriber)
    return api_client


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("page", ["abc", "1.5", "0", "-2"])
def test_a_page_that_is_not_a_whole_number_of_at_least_one_is_a_400(as_subscriber, url, page):
    response = as_subscriber.get(url, {"page": page})

    assert response.status_code == 400, (url, page)
    assert response.json()["code"] == "invalid"
    assert "page must be" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/v3/claims", "/api/v3/billing/invoices"])
def test_a_counted_list_still_answers_its_first_page_and_404s_past_the_end(as_subscriber, url):
    assert as_subscriber.get(url, {"page": "1"}).status_code == 200
    assert as_subscriber.get(url, {"page": "last"}).status_code == 200
    assert as_subscriber.get(url, {"page": "5"}).status_code == 404
