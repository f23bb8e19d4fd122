"""Terms of service: accepted at sign-up (version and time recorded), asked again when the version changes."""

import pytest
from allauth.account.models import EmailAddress
from django.test import override_settings

from accounts.models import User
from accounts.services import TermsNotAccepted, terms_require_current
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _signup(client, **extra):
    data = {"email": "new@example.com", "password1": "a-Long-pass-phrase-9", "password2": "a-Long-pass-phrase-9"}
    return client.post("/accounts/signup/", data | extra)


def test_signup_without_accepting_terms_is_refused(client):
    response = _signup(client)
    assert response.status_code == 200
    assert "You must accept the terms of service" in response.content.decode()
    assert not User.objects.filter(email="new@example.com").exists()


@override_settings(TERMS_VERSION="2027-01")
def test_signup_records_version_and_time(client):
    response = _signup(client, accept_terms="on")
    assert response.status_code == 302
    user = User.objects.get(email="new@example.com")
    assert user.terms_version == "2027-01" and user.terms_accepted_at is not None
    terms_require_current(user=user)  # does not raise


def test_a_new_version_is_asked_for_at_next_login(client):
    user = UserFactory(email="old@example.com", terms_version="2020-01")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    with pytest.raises(TermsNotAccepted):
        terms_require_current(user=user)
    response = client.post("/accounts/login/", {"login": user.email, "password": "correct-horse-battery"})
    assert response.status_code == 302 and response["Location"].startswith("/me/terms/?next=")
    page = client.get(response["Location"])
    assert "Please read and accept the current terms" in page.content.decode()
    assert client.post("/me/terms/", {"next": "/cases/"}).status_code == 400  # box not ticked
    response = client.post("/me/terms/", {"accept_terms": "on", "next": "/cases/"})
    assert response.status_code == 302 and response["Location"] == "/cases/"
    user.refresh_from_db()
    terms_require_current(user=user)


def test_terms_next_cannot_redirect_off_site(client):
    user = UserFactory(terms_version="")
    client.force_login(user)
    response = client.post("/me/terms/", {"accept_terms": "on", "next": "https://evil.example/"})
    assert response["Location"] == "/dashboard/"


def test_the_terms_quote_the_grace_periods_in_force(client, settings, subscriber):
    settings.CLAIM_GRACE_MINUTES = 20
    settings.PAYMENT_GRACE_DAYS = 1
    pages = [client.get("/accounts/signup/")]
    client.force_login(subscriber)
    pages.append(client.get("/me/terms/"))
    for response in pages:
        url = response.request["PATH_INFO"]
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "released within 20 minutes of claiming it is not billed" in page, url
        assert "more than 1 day past due" in page, url


def test_no_grace_period_means_the_terms_promise_none(client, settings):
    settings.CLAIM_GRACE_MINUTES = 0
    page = client.get("/accounts/signup/").content.decode()
    assert "Daily billing" in page and "not billed at all" not in page and "0 minutes" not in page
