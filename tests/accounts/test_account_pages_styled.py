"""Every allauth page a JSN user can reach is the site's card (header, buttons, field errors), never allauth's bare
default look; the pages that end a flow (reset link sent, password changed) say what to do next; a used, expired or
garbled link answers with a page that says so and how to get a new one, never a 500."""

import re

import pytest
import time_machine
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.core import mail
from django.utils import timezone

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

CARD = '<section class="auth card">'
HEADER = '<header class="topbar">'
# Phrases only allauth's own templates use: any of them on a page means its default template was rendered.
ALLAUTH_DEFAULT_TEXTS = (
    "Reset My Password",
    "Bad Token",
    "Sign Out",
    "Please contact us",
    "Confirm Email Address",
    "issue a new email confirmation request",
    "Menu:",
    "Your password is now changed.",
)
NEW_PASSWORD = "a-brand-new-passphrase-77"


def styled(response, template: str) -> str:
    assert response.status_code == 200
    assert template in [t.name for t in response.templates]
    page = response.content.decode()
    assert CARD in page and HEADER in page
    for text in ALLAUTH_DEFAULT_TEXTS:
        assert text not in page, text
    return page


@pytest.fixture
def member():
    user = UserFactory(email="member@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def logged_in(client, member):
    client.force_login(member)
    return client


def reset_link(client, email: str) -> str:
    mail.outbox.clear()
    response = client.post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/done/"
    (message,) = mail.outbox
    return re.search(r"https?://[^/\s]+(/accounts/password/reset/key/\S+/)", message.body).group(1)


# --- password reset -------------------------------------------------------------------------------------------


def test_the_reset_request_page_is_the_sites_card_with_a_way_back_to_log_in(client):
    page = styled(client.get("/accounts/password/reset/"), "account/password_reset.html")
    assert "<h1>Reset your password</h1>" in page
    assert '<button class="btn" type="submit">Send me a reset link</button>' in page
    assert 'href="/accounts/login/"' in page


def test_a_bad_reset_request_shows_the_error_in_the_card(client):
    response = client.post("/accounts/password/reset/", {"email": "not-an-address"})
    page = styled(response, "account/password_reset.html")
    assert '<p class="msg error">' in page


def test_reset_link_sent_page_says_what_to_do_and_links_to_log_in(client, member):
    reset_link(client, member.email)
    page = styled(client.get("/accounts/password/reset/done/"), "account/password_reset_done.html")
    assert "<h1>Check your inbox</h1>" in page
    assert '<a class="btn" href="/accounts/login/">Back to log in</a>' in page
    assert 'href="/accounts/password/reset/"' in page  # ask for a new link


def test_an_unknown_address_gets_the_same_sent_page(client, member):
    known = client.post("/accounts/password/reset/", {"email": member.email}, follow=True)
    unknown = client.post("/accounts/password/reset/", {"email": "nobody@example.com"}, follow=True)
    assert known.redirect_chain == unknown.redirect_chain == [("/accounts/password/reset/done/", 302)]

    def main(response) -> str:  # the page without its per-request CSRF token
        return styled(response, "account/password_reset_done.html").split("<main", 1)[1]

    assert main(known) == main(unknown)


def test_reset_link_sent_page_links_to_the_dashboard_when_logged_in(logged_in):
    page = styled(logged_in.get("/accounts/password/reset/done/"), "account/password_reset_done.html")
    assert '<a class="btn" href="/dashboard/">Go to your dashboard</a>' in page


def test_a_full_reset_sets_the_password_and_ends_on_a_page_that_links_to_log_in(client, member):
    form = client.get(reset_link(client, member.email), follow=True)
    page = styled(form, "account/password_reset_from_key.html")
    assert "<h1>Choose a new password</h1>" in page
    set_url = form.redirect_chain[-1][0]

    mismatch = client.post(set_url, {"password1": NEW_PASSWORD, "password2": "something-else-entirely"})
    assert '<p class="msg error">' in styled(mismatch, "account/password_reset_from_key.html")

    done = client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}, follow=True)
    assert done.redirect_chain == [("/accounts/password/reset/key/done/", 302)]
    page = styled(done, "account/password_reset_from_key_done.html")
    assert "<h1>Your password is changed</h1>" in page
    assert '<a class="btn" href="/accounts/login/">Log in</a>' in page
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_password_changed_page_links_to_the_dashboard_when_logged_in(logged_in):
    page = styled(logged_in.get("/accounts/password/reset/key/done/"), "account/password_reset_from_key_done.html")
    assert '<a class="btn" href="/dashboard/">Go to your dashboard</a>' in page
    assert 'href="/accounts/login/"' not in page.split("<main", 1)[1]


def test_a_used_reset_link_says_so_and_offers_a_new_one(client, member):
    link = reset_link(client, member.email)
    set_url = client.get(link, follow=True).redirect_chain[-1][0]
    client.post(set_url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    page = styled(client.get(link), "account/password_reset_from_key.html")
    assert "<h1>This reset link no longer works</h1>" in page
    assert '<a class="btn" href="/accounts/password/reset/">Ask for a new reset link</a>' in page
    assert "<form" not in page.split("<main", 1)[1]  # no password form for a dead link


@pytest.mark.parametrize(
    "path",
    [
        "/accounts/password/reset/key/1-bad/",
        "/accounts/password/reset/key/zzzzzzzzzzzzzzzzzzzzzzzzzzzz-abc-def/",  # a user id far beyond bigint
        "/accounts/password/reset/key/3-set-password/",  # the form's address, without a key in the session
    ],
)
def test_a_garbled_reset_link_answers_the_styled_bad_link_page(client, member, path):
    page = styled(client.get(path), "account/password_reset_from_key.html")
    assert "This reset link no longer works" in page
    posted = client.post(path, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert "This reset link no longer works" in styled(posted, "account/password_reset_from_key.html")
    member.refresh_from_db()
    assert not member.check_password(NEW_PASSWORD)


# --- password change ------------------------------------------------------------------------------------------


def test_a_changed_password_lands_on_the_dashboard_with_the_confirmation(logged_in, member):
    data = {"oldpassword": "correct-horse-battery", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    response = logged_in.post("/accounts/password/change/", data, follow=True)
    assert response.redirect_chain[0] == ("/dashboard/", 302)
    assert response.status_code == 200
    assert '<li class="msg success">Password successfully changed.</li>' in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)


def test_the_password_change_page_links_back_to_the_dashboard(logged_in):
    page = logged_in.get("/accounts/password/change/").content.decode()
    assert '<a href="/dashboard/">Back to your dashboard</a>' in page


# --- e-mail confirmation --------------------------------------------------------------------------------------


@pytest.fixture
def unconfirmed(member):
    return EmailAddress.objects.create(user=member, email="second@example.com", verified=False, primary=False)


def test_the_confirmation_page_names_the_address_and_confirms_it(client, unconfirmed):
    key = EmailConfirmationHMAC(unconfirmed).key
    page = styled(client.get(f"/accounts/confirm-email/{key}/"), "account/email_confirm.html")
    assert "<h1>Confirm your e-mail address</h1>" in page
    assert "second@example.com" in page
    assert f'action="/accounts/confirm-email/{key}/"' in page
    assert '<button class="btn" type="submit">Confirm this address</button>' in page
    assert client.post(f"/accounts/confirm-email/{key}/").status_code == 302
    unconfirmed.refresh_from_db()
    assert unconfirmed.verified


@pytest.mark.parametrize("key", ["not-a-key", "MQ:1uXYZa:AbCdEfGhIjKlMnOpQrStUvWxYz0"])
def test_an_invalid_confirmation_link_says_so_and_how_to_get_a_new_one(client, key):
    page = styled(client.get(f"/accounts/confirm-email/{key}/"), "account/email_confirm.html")
    assert "<h1>This confirmation link no longer works</h1>" in page
    assert '<a class="btn" href="/accounts/login/">Log in</a>' in page
    assert "Confirm this address" not in page


def test_an_expired_confirmation_link_sends_a_logged_in_user_to_the_email_page(client, member, unconfirmed):
    with time_machine.travel(timezone.now() - timezone.timedelta(days=30)):
        key = EmailConfirmationHMAC(unconfirmed).key  # the link of a month-old e-mail (links last 3 days)
    client.force_login(member)
    page = styled(client.get(f"/accounts/confirm-email/{key}/"), "account/email_confirm.html")
    assert "<h1>This confirmation link no longer works</h1>" in page
    assert '<a class="btn" href="/accounts/email/">Your e-mail addresses</a>' in page
    unconfirmed.refresh_from_db()
    assert not unconfirmed.verified


def test_an_address_another_account_confirmed_cannot_be_confirmed_here(client, unconfirmed):
    other = UserFactory(email="other@example.com")
    EmailAddress.objects.create(user=other, email="second@example.com", verified=True, primary=False)
    key = EmailConfirmationHMAC(unconfirmed).key
    page = styled(client.get(f"/accounts/confirm-email/{key}/"), "account/email_confirm.html")
    assert "<h1>This address cannot be confirmed</h1>" in page
    assert "already confirmed by another JSN account" in page
    assert "Confirm this address" not in page


def test_sign_up_ends_on_the_styled_check_your_inbox_page(client):
    data = {
        "email": "new@example.com",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "accept_terms": "on",
    }
    response = client.post("/accounts/signup/", data, follow=True)
    assert response.redirect_chain[-1][0] == "/accounts/confirm-email/"
    page = styled(response, "account/verification_sent.html")
    assert "<h1>Check your inbox</h1>" in page
    assert '<a class="btn" href="/accounts/login/">Back to log in</a>' in page


# --- the other reachable pages --------------------------------------------------------------------------------


def test_the_logout_confirmation_is_the_sites_card_and_logs_out(logged_in):
    page = styled(logged_in.get("/accounts/logout/"), "account/logout.html")
    assert "<h1>Log out of JSN?</h1>" in page
    assert '<form method="post" action="/accounts/logout/" class="stack">' in page
    assert '<a href="/dashboard/">Stay logged in and go to your dashboard</a>' in page
    logged_in.post("/accounts/logout/")
    assert "_auth_user_id" not in logged_in.session


def test_an_account_without_a_password_can_set_one_on_the_styled_page(client):
    user = UserFactory(email="nopass@example.com", password=None)
    user.set_unusable_password()
    user.save()
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    page = styled(client.get("/accounts/password/set/"), "account/password_set.html")
    assert "<h1>Set a password</h1>" in page
    short = client.post("/accounts/password/set/", {"password1": "abc", "password2": "abc"})
    assert '<p class="msg error">' in styled(short, "account/password_set.html")
    response = client.post("/accounts/password/set/", {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
    assert response.status_code == 302 and response["Location"] == "/dashboard/"
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_the_inactive_account_page_is_the_sites_card(client):
    page = styled(client.get("/accounts/inactive/"), "account/account_inactive.html")
    assert "<h1>This account is inactive</h1>" in page


def test_a_switched_off_account_with_the_right_password_sees_the_inactive_page(client, member):
    member.is_active = False
    member.save()
    response = client.post(
        "/accounts/login/", {"login": member.email, "password": "correct-horse-battery"}, follow=True
    )
    assert response.redirect_chain[-1][0] == "/accounts/inactive/"
    styled(response, "account/account_inactive.html")


def test_the_reauthenticate_page_is_the_sites_card(logged_in):
    page = styled(logged_in.get("/accounts/reauthenticate/"), "account/reauthenticate.html")
    assert "<h1>Confirm it's you</h1>" in page
    wrong = logged_in.post("/accounts/reauthenticate/", {"password": "not-my-password"})
    assert '<p class="msg error">' in styled(wrong, "account/reauthenticate.html")


def test_the_verification_sent_page_is_the_sites_card(client):
    page = styled(client.get("/accounts/confirm-email/"), "account/verification_sent.html")
    assert "<h1>Check your inbox</h1>" in page


@pytest.mark.parametrize("url", ["/accounts/signup/", "/accounts/password/reset/"])
def test_the_address_field_is_called_e_mail_address_as_on_the_log_in_form(client, url):
    html = client.get(url).content.decode()
    assert "E-mail address" in html and ">Email<" not in html and 'placeholder="Email' not in html


def test_the_add_address_field_is_called_e_mail_address_too(client, member):
    client.force_login(member)
    html = client.get("/accounts/email/").content.decode()
    assert 'placeholder="E-mail address"' in html and 'placeholder="Email' not in html
