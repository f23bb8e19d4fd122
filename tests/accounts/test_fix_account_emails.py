"""allauth's e-mails name the product ("Hello from JSN!"), not the host and port the request reached."""

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_the_signup_confirmation_greets_from_jsn(client, settings):
    settings.SITE_URL = "https://jsn.example"
    response = client.post(
        "/accounts/signup/",
        {
            "email": "new@example.com",
            "password1": "a-long-new-password-42",
            "password2": "a-long-new-password-42",
            "accept_terms": "on",
        },
        HTTP_HOST="127.0.0.1",
    )
    assert response.status_code == 302
    (message,) = mail.outbox
    assert message.body.startswith("Hello from JSN!")
    assert "Thank you for using JSN!\njsn.example" in message.body
    assert "register an account on jsn.example" in message.body
    assert "Hello from 127.0.0.1" not in message.body and "using 127.0.0.1" not in message.body
    assert message.subject.startswith("[JSN] ")


def test_the_password_reset_mail_greets_from_jsn(client):
    user = UserFactory(email="reset@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.post("/accounts/password/reset/", {"email": user.email}, HTTP_HOST="127.0.0.1")
    (message,) = mail.outbox
    assert message.body.startswith("Hello from JSN!")
    assert "Thank you for using JSN!" in message.body
