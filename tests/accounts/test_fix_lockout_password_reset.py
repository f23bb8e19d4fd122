"""A completed password reset by e-mail lifts the account's django-axes lockout: the lockout page promises it."""

import re

import pytest
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-brand-new-passphrase-77"


@pytest.fixture
def locked_user(client):
    user = UserFactory(email="victim@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    for i in range(5):
        client.post("/accounts/login/", {"login": "Victim@Example.com", "password": f"wrong-{i}"})
    assert _login(client, "correct-horse-battery").status_code == 429
    return user


def _login(client, password: str):
    return client.post("/accounts/login/", {"login": "victim@example.com", "password": password})


def _reset_password_by_email(client, email: str) -> None:
    mail.outbox.clear()
    assert client.post("/accounts/password/reset/", {"email": email}).status_code == 302
    (message,) = mail.outbox
    key_url = re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body).group(1)
    form_page = client.get(key_url, follow=True)  # allauth moves the key into the session, then shows the form
    assert form_page.status_code == 200 and "form" in form_page.context
    set_url = form_page.redirect_chain[-1][0]
    done = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert done.status_code == 302, done.context["form"].errors if done.context else done


def test_the_new_password_logs_in_after_a_reset_by_email(client, locked_user):
    _reset_password_by_email(client, locked_user.email)
    response = _login(client, NEW_PASSWORD)
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(locked_user.pk)
    assert not AccessAttempt.objects.filter(username="victim@example.com").exists()


def test_without_a_reset_the_lockout_stays(client, locked_user):
    locked_user.set_password(NEW_PASSWORD)  # a password change that is not a reset by e-mail
    locked_user.save()
    assert _login(client, NEW_PASSWORD).status_code == 429


def test_a_reset_lifts_only_that_accounts_lockout(client, locked_user):
    other = UserFactory(email="bystander@example.com")
    EmailAddress.objects.create(user=other, email=other.email, verified=True, primary=True)
    for i in range(5):
        client.post("/accounts/login/", {"login": other.email, "password": f"wrong-{i}"})
    _reset_password_by_email(client, locked_user.email)
    assert AccessAttempt.objects.filter(username="bystander@example.com").exists()
    response = client.post("/accounts/login/", {"login": other.email, "password": "correct-horse-battery"})
    assert response.status_code == 429
