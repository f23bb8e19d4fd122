"""R1 at unit level: a database outage answers 503 `database_unavailable` with Retry-After, never a 500 or a
traceback, for the API (token and session auth) and for HTML pages. The real restart is tests/stress/test_r1_*."""

from unittest import mock

import pytest
from django.db import InterfaceError, OperationalError, connection
from django.test import Client
from rest_framework.authtoken.models import Token

from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

DOWN = OperationalError('connection failed: connection to server at "127.0.0.1", port 5432 failed: Connection refused')


def assert_clean_json_503(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "code": "database_unavailable",
        "detail": "The database is unavailable for a moment. Please try again shortly.",
    }
    assert response["Retry-After"] == "5"
    assert "no-store" in response["Cache-Control"]
    assert b"Traceback" not in response.content


def test_claim_api_with_a_token_answers_503_while_the_database_is_down():
    user = UserFactory(email="token@example.com")
    token = Token.objects.create(user=user)
    case = CaseFactory()
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")
    # Every query fails, as when PostgreSQL restarts: the token lookup is the first one.
    with mock.patch.object(connection, "cursor", side_effect=DOWN):
        assert_clean_json_503(client.post(f"/api/v3/cases/{case.pk}/claim"))
        assert_clean_json_503(client.get("/api/v3/claims"))
    assert client.post(f"/api/v3/cases/{case.pk}/claim").status_code == 201  # and recovers by itself


def test_a_connection_lost_inside_the_claim_service_answers_503():
    """Whichever path the service takes (PostgreSQL's one-statement claim or the ORM path), a connection lost
    midway answers 503 and claims nothing."""
    user = UserFactory(email="midway@example.com")
    token = Token.objects.create(user=user)
    case = CaseFactory()
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")
    closed = InterfaceError("connection already closed")
    with (
        mock.patch("claims.services._claim_cases", side_effect=closed),
        mock.patch("claims.services._claim_one_in_sql", side_effect=closed),
    ):
        assert_clean_json_503(
            client.post("/api/v3/cases/claim", {"case_ids": [case.pk]}, content_type="application/json")
        )
        assert_clean_json_503(client.post(f"/api/v3/cases/{case.pk}/claim"))
    case.refresh_from_db()
    assert case.assigned_to_id is None


def test_session_api_answers_json_503_when_the_session_lookup_fails(client):
    client.force_login(UserFactory(email="session@example.com"))
    client.raise_request_exception = False
    with mock.patch.object(connection, "cursor", side_effect=DOWN):
        assert_clean_json_503(client.get("/api/v3/claims/count"))


@pytest.mark.parametrize("path", ["/dashboard/", "/cases/", "/claims/"])
def test_html_pages_answer_a_plain_503_page_while_the_database_is_down(client, path):
    client.force_login(UserFactory(email="page@example.com"))
    client.raise_request_exception = False
    with mock.patch.object(connection, "cursor", side_effect=DOWN):
        response = client.get(path)
    assert response.status_code == 503
    assert response["Content-Type"].startswith("text/html")
    assert response["Retry-After"] == "5"
    body = response.content.decode()
    assert "Back in a moment" in body and "try again in 5 seconds" in body
    assert "Traceback" not in body and "OperationalError" not in body and "5432" not in body
    assert client.get(path).status_code == 200  # the next request, database back, is served normally


def test_a_bug_in_an_api_view_is_still_a_json_500_not_an_html_page():
    user = UserFactory(email="bug@example.com")
    token = Token.objects.create(user=user)
    client = Client(raise_request_exception=False, HTTP_AUTHORIZATION=f"Token {token.key}")
    with mock.patch("claims.selectors.active_claim_count", side_effect=ZeroDivisionError("bug")):
        response = client.get("/api/v3/claims/count")
    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "detail": "Something went wrong on our side."}


def test_a_bug_in_a_page_is_still_the_500_page(client):
    client.force_login(UserFactory(email="bugpage@example.com"))
    client.raise_request_exception = False
    with mock.patch("jsn.views.Case.objects.filter", side_effect=ZeroDivisionError("bug")):
        response = client.get("/dashboard/")
    assert response.status_code == 500
    assert "Something went wrong" in response.content.decode()
