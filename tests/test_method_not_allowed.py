"""Opening a form's target in the address bar: a page saying what to do, not the browser's empty-405 error."""

import pytest

pytestmark = pytest.mark.django_db

POST_ONLY = ["/claims/claim/", "/claims/release/", "/billing/card/", "/billing/portal/"]


@pytest.mark.parametrize("url", POST_ONLY)
def test_a_get_on_a_post_only_page_explains_itself(client, subscriber, url):
    client.force_login(subscriber)

    response = client.get(url)

    assert response.status_code == 405
    assert "POST" in response["Allow"]
    body = response.content.decode()
    assert "This address is a form&#x27;s target" in body or "This address is a form's target" in body
    assert "Nothing was changed." in body
    assert 'href="/dashboard/"' in body
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_the_api_keeps_its_json_405(client, subscriber):
    client.force_login(subscriber)

    response = client.get("/api/v3/cases/claim")

    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
