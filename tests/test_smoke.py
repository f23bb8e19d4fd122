import pytest


@pytest.mark.django_db
def test_health_answers_ok(client):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


@pytest.mark.django_db
def test_case_list_api_masks_for_non_owner(api_client, subscriber, make_case):
    case = make_case()
    api_client.force_authenticate(subscriber)
    response = api_client.get("/api/v3/cases")
    assert response.status_code == 200
    assert case.case_number not in response.content.decode()
