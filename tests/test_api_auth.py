"""API authentication (jsn.lib.auth): DRF's session and token authentication with the same answers, the token
looked up with one precompiled statement, the session left alone when the request carries no session cookie."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token

from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_valid_token_authenticates_as_its_complete_user(api_client, subscriber):
    token = Token.objects.create(user=subscriber)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as ctx:
        response = api_client.get("/api/v3/claims/count")
    assert response.status_code == 200
    assert response.json()["claim_limit"] == subscriber.claim_limit
    # One statement finds the token and its user; the view reads request.user.claim_limit without another query.
    token_queries = [q["sql"] for q in ctx.captured_queries if "authtoken_token" in q["sql"]]
    assert len(token_queries) == 1 and "accounts_user" in token_queries[0]
    assert len(ctx.captured_queries) == 2  # + the view's own count of active claims


def test_the_user_is_a_full_row_like_the_orm_would_load():
    from jsn.lib.auth import TokenAuthentication

    user = UserFactory(email="whole@example.com", claim_limit=7, terms_version="2026-11")
    token = Token.objects.create(user=user)
    found, auth = TokenAuthentication().authenticate_credentials(token.key)
    assert (found.pk, found.email, found.claim_limit, found.terms_version) == (user.pk, user.email, 7, "2026-11")
    assert found.get_deferred_fields() == set()
    assert (auth.key, auth.user_id, auth.created, auth.user) == (token.key, user.pk, token.created, found)


BAD_HEADERS = [
    ("Token not-a-real-key", "Invalid token."),
    ("Token", "Invalid token header. No credentials provided."),
    ("Token a b", "Invalid token header. Token string should not contain spaces."),
]


@pytest.mark.parametrize(("header", "detail"), BAD_HEADERS)
def test_bad_tokens_are_refused_with_drfs_reasons(api_client, header, detail):
    """401 with the `Token` challenge: TokenAuthentication comes first in DEFAULT_AUTHENTICATION_CLASSES."""
    api_client.credentials(HTTP_AUTHORIZATION=header)
    response = api_client.get("/api/v3/claims/count")
    assert (response.status_code, response.json()["detail"]) == (401, detail)
    assert (response.json()["code"], response["WWW-Authenticate"]) == ("authentication_failed", "Token")


def test_every_refusal_reads_as_drfs_own_class_including_an_inactive_user():
    from rest_framework import authentication, exceptions
    from rest_framework.test import APIRequestFactory

    from jsn.lib.auth import TokenAuthentication

    inactive = Token.objects.create(user=UserFactory(email="gone@example.com", is_active=False))
    headers = [*(h for h, _ in BAD_HEADERS), f"Token {inactive.key}"]
    for header in headers:
        request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=header)
        answers = []
        for auth in (authentication.TokenAuthentication(), TokenAuthentication()):
            with pytest.raises(exceptions.AuthenticationFailed) as refused:
                auth.authenticate(request)
            answers.append(str(refused.value.detail))
        assert answers[0] == answers[1], header  # word for word what DRF's own class says
    assert answers[-1] == "User inactive or deleted."


def test_session_authentication_still_works_and_still_demands_csrf(subscriber):
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(subscriber)
    assert browser.get("/api/v3/claims/count").json()["claim_limit"] == subscriber.claim_limit
    case = CaseFactory()
    refused = browser.post(f"/api/v3/cases/{case.pk}/claim")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    browser.get("/cases/")  # the page sets the CSRF cookie, as a browser would get it
    token = browser.cookies["csrftoken"].value
    assert browser.post(f"/api/v3/cases/{case.pk}/claim", HTTP_X_CSRFTOKEN=token).status_code == 201


def test_without_a_session_cookie_the_session_is_not_touched(api_client, subscriber, monkeypatch):
    from django.contrib.sessions.backends.base import SessionBase

    def no_session(*args, **kwargs):
        raise AssertionError("the session was loaded for a request without a session cookie")

    monkeypatch.setattr(SessionBase, "_get_session", no_session)
    token = Token.objects.create(user=subscriber)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert api_client.get("/api/v3/claims/count").status_code == 200
    api_client.credentials()
    assert api_client.get("/api/v3/claims/count").status_code == 401  # anonymous: the token challenge


def test_a_token_header_wins_over_the_session_and_a_bad_one_is_refused_even_with_a_session(client, subscriber):
    """Token authentication comes first: a request carrying both acts as the token's user (without the session's
    CSRF check: a browser never adds that header cross-site on its own), and a bad token is a 401 however good
    the session is — a script's broken credentials are never silently replaced by a browser's."""
    other = UserFactory(email="script-owner@example.com")
    token = Token.objects.create(user=other)
    client.force_login(subscriber)
    assert client.get("/api/v3/claims/count").json()["claim_limit"] == subscriber.claim_limit  # the session
    as_token = client.get("/api/v3/claims/count", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert as_token.status_code == 200
    refused = client.get("/api/v3/claims/count", HTTP_AUTHORIZATION="Token not-a-real-key")
    assert (refused.status_code, refused.json()["code"]) == (401, "authentication_failed")
    case = CaseFactory()
    claimed = client.post(f"/api/v3/cases/{case.pk}/claim", HTTP_AUTHORIZATION=f"Token {token.key}")
    assert claimed.status_code == 201
    case.refresh_from_db()
    assert case.assigned_to == other
