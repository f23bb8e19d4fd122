"""The "API token" page: a logged-in user creates, replaces and revokes their own API token (audited), and sees
a new key once."""

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import UserEvent
from accounts.views import API_TOKEN_REVOKED, API_TOKEN_UNKNOWN_ACTION

pytestmark = pytest.mark.django_db

URL = "/me/api-token/"


@pytest.fixture
def browser(subscriber) -> Client:
    client = Client()
    client.force_login(subscriber)
    return client


def _claims_count(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v3/claims/count").status_code


def _issue(browser: Client) -> str:
    replaces = browser.get(URL).context["replaces"]  # what the page's form carries
    response = browser.post(URL, {"action": "issue", "replaces": replaces})
    assert response.status_code == 200
    key = response.context["new_key"]
    assert key in response.content.decode()
    return key


def test_the_header_links_the_page_and_it_says_there_is_no_token(browser):
    assert f'href="{URL}"' in browser.get("/dashboard/").content.decode()
    page = browser.get(URL)
    assert page.status_code == 200
    assert "You have no API token." in page.content.decode()


def test_a_created_token_authenticates_the_api_and_is_shown_once(browser, subscriber):
    key = _issue(browser)
    assert Token.objects.get(user=subscriber).key == key
    assert _claims_count(key) == 200
    again = browser.get(URL).content.decode()
    assert key not in again  # shown once: later visits name it by its last characters only
    assert f"…{key[-4:]}" in again
    (event,) = UserEvent.objects.filter(user=subscriber)
    assert (event.action, event.actor, event.from_value, event.to_value) == (
        UserEvent.Action.API_TOKEN_ISSUED,
        subscriber,
        "",
        f"…{key[-4:]}",
    )


def test_replacing_the_token_stops_the_old_key(browser, subscriber):
    old = _issue(browser)
    new = _issue(browser)
    assert new != old
    assert _claims_count(old) == 401
    assert _claims_count(new) == 200
    assert Token.objects.filter(user=subscriber).count() == 1
    latest = UserEvent.objects.filter(user=subscriber).first()
    assert (latest.from_value, latest.to_value) == (f"…{old[-4:]}", f"…{new[-4:]}")


def test_a_revoked_token_gets_401(browser, subscriber):
    key = _issue(browser)
    response = browser.post(URL, {"action": "revoke"}, follow=True)
    assert response.redirect_chain == [(URL, 302)]
    assert API_TOKEN_REVOKED in response.content.decode()
    assert "You have no API token." in response.content.decode()
    assert not Token.objects.filter(user=subscriber).exists()
    assert _claims_count(key) == 401
    latest = UserEvent.objects.filter(user=subscriber).first()
    assert (latest.action, latest.from_value, latest.to_value) == (
        UserEvent.Action.API_TOKEN_REVOKED,
        f"…{key[-4:]}",
        "revoked",
    )


def test_revoking_without_a_token_changes_nothing(browser, subscriber):
    assert browser.post(URL, {"action": "revoke"}).status_code == 302
    assert not UserEvent.objects.filter(user=subscriber).exists()


def test_a_post_without_an_action_is_refused(browser, subscriber):
    response = browser.post(URL)
    assert response.status_code == 400
    assert API_TOKEN_UNKNOWN_ACTION in response.content.decode()
    assert not Token.objects.filter(user=subscriber).exists()


def test_a_forged_post_without_the_csrf_token_makes_no_token(subscriber):
    client = Client(enforce_csrf_checks=True)
    client.force_login(subscriber)
    assert client.post(URL, {"action": "issue"}).status_code == 403
    assert not Token.objects.filter(user=subscriber).exists()


def test_the_new_key_page_is_not_cached(browser):
    response = browser.post(URL, {"action": "issue"})
    assert response["Cache-Control"] == "private, no-store"


def test_a_user_only_ever_touches_their_own_token(browser, subscriber, other_subscriber):
    theirs = Token.objects.create(user=other_subscriber)
    browser.post(URL, {"action": "issue"})
    browser.post(URL, {"action": "revoke"})
    assert Token.objects.get(user=other_subscriber).key == theirs.key
    assert _claims_count(theirs.key) == 200


def test_anonymous_visitors_are_sent_to_log_in(client):
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post(URL, {"action": "issue"}).status_code == 302
    assert not Token.objects.exists()


def test_reloading_the_answer_that_showed_a_new_key_does_not_replace_it(browser, subscriber):
    form = {"action": "issue", "replaces": browser.get(URL).context["replaces"]}
    key = browser.post(URL, form).context["new_key"]
    again = browser.post(URL, form, follow=True)  # the browser's "resubmit" on reload sends the same form
    assert again.redirect_chain == [(URL, 302)]
    assert "was not replaced again" in again.content.decode() and key not in again.content.decode()
    assert Token.objects.get(user=subscriber).key == key and _claims_count(key) == 200
    assert UserEvent.objects.filter(user=subscriber).count() == 1
