"""Sessions: a login rotates the session; a password change or reset ends every other session of the account.

Two browsers (two clients) of the same person: the one that changes the password stays logged in, the other is
logged out on its next request, pages and session-authenticated API alike. API tokens stay valid: they are issued to
scripts by staff (admin or `manage.py drf_create_token`), cannot be obtained with a password, and are revoked by
deleting them (or by closing the account), so a password change has no reason to break a script.
"""

import re

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.core import mail
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"
NEW_PASSWORD = "a-new-Passphrase-2026"


@pytest.fixture
def user():
    user = UserFactory(email="two.devices@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _login(client: Client, password: str = PASSWORD):
    return client.post("/accounts/login/", {"login": "two.devices@example.com", "password": password})


def _logged_in(client: Client) -> bool:
    response = client.get("/dashboard/")
    assert response.status_code in (200, 302)
    return response.status_code == 200


@pytest.fixture
def laptop(user) -> Client:
    client = Client()
    assert _login(client).status_code == 302
    return client


@pytest.fixture
def phone(user) -> Client:
    client = Client()
    assert _login(client).status_code == 302
    return client


def test_login_rotates_the_session_and_forgets_the_old_key(user):
    client = Client()
    before = SessionStore()
    before["visited"] = "landing"
    before.create()
    client.cookies[settings.SESSION_COOKIE_NAME] = before.session_key

    assert _login(client).status_code == 302
    after = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert after != before.session_key
    assert not SessionStore().exists(before.session_key)  # a planted (fixated) key is useless after login
    assert _logged_in(client)


def test_two_logins_are_two_sessions(laptop, phone):
    assert laptop.cookies[settings.SESSION_COOKIE_NAME].value != phone.cookies[settings.SESSION_COOKIE_NAME].value
    assert _logged_in(laptop) and _logged_in(phone)


def test_password_change_keeps_this_browser_and_logs_out_the_other(user, laptop, phone):
    token = Token.objects.create(user=user)
    response = laptop.post(
        "/accounts/password/change/",
        {"oldpassword": PASSWORD, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )
    assert response.status_code == 302, response.content[:500]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    assert _logged_in(laptop)  # the browser that changed it stays logged in
    assert not _logged_in(phone)  # the other one is out, on its next request
    api_on_phone = phone.get("/api/v3/claims/count")
    assert api_on_phone.status_code == 401 and api_on_phone.json()["code"] == "not_authenticated"
    # The old password no longer logs in; the new one does.
    assert _login(Client()).status_code == 200
    assert _login(Client(), NEW_PASSWORD).status_code == 302
    # A script's token is not a password session: it keeps working (see the module docstring for why).
    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert script.get("/api/v3/claims/count").status_code == 200


def test_password_reset_by_e_mail_logs_out_every_session(user, laptop, phone):
    stranger = Client()
    assert stranger.post("/accounts/password/reset/", {"email": user.email}).status_code == 302
    (message,) = mail.outbox
    link = re.search(r"http://testserver(/accounts/password/reset/key/\S+/)", message.body).group(1)
    form = stranger.get(link, follow=True)
    assert form.status_code == 200
    set_password_url = form.redirect_chain[-1][0] if form.redirect_chain else link
    done = stranger.post(set_password_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302, done.content[:500]
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)

    assert not _logged_in(laptop)
    assert not _logged_in(phone)
    assert _login(Client(), NEW_PASSWORD).status_code == 302
