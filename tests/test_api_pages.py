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


def test_the_api_docs_list_the_customer_endpoints_before_the_staff_only_ones(client):
    from django.conf import settings

    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    declared = [t["name"] for t in schema.json()["tags"]]
    assert declared[0] == "cases" and declared[-1] == "admin"
    used = {t for ops in schema.json()["paths"].values() for op in ops.values() for t in op.get("tags", [])}
    assert used <= set(declared)  # a new tag must be placed in SPECTACULAR_SETTINGS["TAGS"]
    assert [t["name"] for t in settings.SPECTACULAR_SETTINGS["TAGS"]] == declared
