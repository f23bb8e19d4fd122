"""The password-change and e-mail pages use the site's card, buttons and field errors (like log-in and sign-up);
the header gives a long address its title, to read it whole where it is cut."""

import pytest
from allauth.account.models import EmailAddress

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, subscriber):
    EmailAddress.objects.create(user=subscriber, email=subscriber.email, verified=True, primary=True)
    client.force_login(subscriber)
    return client


def test_the_password_change_page_is_the_sites_card_with_field_errors(browser):
    page = browser.get("/accounts/password/change/").content.decode()
    assert '<section class="auth card">' in page
    assert '<button class="btn" type="submit">Change password</button>' in page
    data = {"oldpassword": "not-my-password", "password1": "short", "password2": "other"}
    errors = browser.post("/accounts/password/change/", data).content.decode()
    assert errors.count('<p class="msg error">') >= 2
    assert "Please type your current password." in errors


def test_the_email_page_is_the_sites_card_with_field_errors(browser, subscriber):
    page = browser.get("/accounts/email/").content.decode()
    assert '<section class="auth card">' in page
    assert 'name="action_add"' in page
    assert 'name="action_remove"' not in page  # a lone primary address cannot be removed: no button that only fails
    assert '<span class="badge mine">Primary</span>' in page
    response = browser.post("/accounts/email/", {"action_add": "", "email": subscriber.email.upper()})
    assert '<p class="msg error">' in response.content.decode()


def test_the_header_names_the_address_in_full_in_its_title(browser, subscriber):
    page = browser.get("/dashboard/").content.decode()
    assert f'<span class="who" title="{subscriber.email}">{subscriber.email}</span>' in page
