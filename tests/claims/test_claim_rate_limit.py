"""Claim and release requests are rate limited per user (429 with Retry-After); unsafe input never 500s."""

import pytest
from django.test import override_settings

from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


@override_settings(CLAIM_RATE_LIMIT_PER_HOUR=3)
def test_fourth_claim_request_in_an_hour_is_429_with_retry_after(api_client):
    user = UserFactory(email="fast@example.com")
    cases = [CaseFactory(score=50) for _ in range(4)]
    api_client.force_authenticate(user)
    for case in cases[:3]:
        assert api_client.post(f"/api/v3/cases/{case.pk}/claim").status_code == 201
    response = api_client.post(f"/api/v3/cases/{cases[3].pk}/claim")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 3600
    cases[3].refresh_from_db()
    assert cases[3].assigned_to_id is None  # refused before anything was written
    # Another user is not affected.
    other = UserFactory(email="calm@example.com")
    api_client.force_authenticate(other)
    assert api_client.post("/api/v3/cases/claim", {"case_ids": [cases[3].pk]}, format="json").status_code == 200


@override_settings(CLAIM_RATE_LIMIT_PER_HOUR=1)
def test_html_claim_over_the_limit_shows_a_message_and_claims_nothing(client):
    user = UserFactory(email="page@example.com")
    first, second = CaseFactory(), CaseFactory()
    client.force_login(user)
    client.post("/claims/claim/", {"case_ids": [first.pk]})
    response = client.post("/claims/claim/", {"case_ids": [second.pk]}, follow=True)
    assert "Too many claim or release requests" in response.content.decode()
    second.refresh_from_db()
    assert second.assigned_to_id is None


def test_non_ascii_digits_in_case_ids_are_refused_not_500(client):
    client.force_login(UserFactory(email="digits@example.com"))
    response = client.post("/claims/claim/", {"case_ids": ["²"]}, follow=True)
    assert response.status_code == 200


def test_personal_pages_and_api_answers_are_not_stored(client, api_client):
    user = UserFactory(email="nostore@example.com")
    case = CaseFactory()
    client.force_login(user)
    for url in ("/cases/", f"/cases/{case.pk}/", "/claims/", "/dashboard/"):
        assert client.get(url)["Cache-Control"] == "private, no-store", url
    api_client.force_authenticate(user)
    assert "no-store" in api_client.get(f"/api/v3/cases/{case.pk}")["Cache-Control"]


def test_anonymous_lead_download_never_puts_the_token_in_a_login_url(client):
    response = client.get("/leads/download/some-signed-token-value/")
    assert response.status_code == 302
    assert "some-signed-token-value" not in response["Location"]
