"""Account pages in a real browser: a 254-character address does not widen the page, the password and e-mail pages
look like the log-in page, and the API token page shows a new key once."""

import os

import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

LONG_EMAIL = "a" * 64 + "@" + ".".join(["b" * 62, "c" * 62, "d" * 55]) + ".example"  # 254 characters
BRAND = "rgb(39, 72, 216)"  # --brand


def page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.fixture
def long_user():
    assert len(LONG_EMAIL) == 254
    user = UserFactory(email=LONG_EMAIL)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_a_254_character_address_does_not_widen_the_page(live_server, page, login, shot, long_user):
    login(page, long_user.email)
    viewport = page.viewport_size["width"]
    assert page_width(page) <= viewport
    who = page.locator(".topbar .who")
    assert who.get_attribute("title") == LONG_EMAIL  # the whole address, on hover
    assert who.evaluate("e => e.scrollWidth > e.clientWidth")  # cut with an ellipsis
    assert page.locator(".account a:has-text('Log out'), .account button:has-text('Log out')").is_visible()
    shot(page, "fix-accounts-1-long-email-header")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live_server.url}/dashboard/")
    assert page_width(page) <= 390
    shot(page, "fix-accounts-2-long-email-phone")


def test_password_change_and_email_pages_look_like_the_login_page(live_server, page, login, shot, long_user):
    login(page, long_user.email)
    for path, name in (("/accounts/password/change/", "password"), ("/accounts/email/", "email")):
        page.goto(f"{live_server.url}{path}")
        assert page.locator("main section.auth.card").count() == 1, path
        assert page.locator("main .auth button.btn").first.evaluate("b => getComputedStyle(b).backgroundColor") in (
            BRAND,
            "rgb(255, 255, 255)",  # .btn.ghost
        )
        assert page_width(page) <= page.viewport_size["width"], path
        shot(page, f"fix-accounts-3-{name}")

    page.goto(f"{live_server.url}/accounts/password/change/")
    page.fill("input[name=oldpassword]", "not-my-password")
    page.fill("input[name=password1]", "short")
    page.fill("input[name=password2]", "different")
    page.click("main button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("main .msg.error").count() >= 2  # each field's error, styled
    shot(page, "fix-accounts-4-password-errors")

    page.goto(f"{live_server.url}/accounts/email/")
    page.fill("input[name=email][type=email]", long_user.email.upper())
    page.click("button[name=action_add]")
    page.wait_for_load_state()
    assert page.locator("main .msg.error").count() == 1
    assert page_width(page) <= page.viewport_size["width"]
    shot(page, "fix-accounts-5-email-errors")


def test_the_api_token_page_shows_a_new_key_once(live_server, page, login, shot):
    user = UserFactory(email="scripts@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    login(page, user.email)
    EmailAddress.objects.create(user=user, email="second@example.com", verified=False, primary=False)
    page.goto(f"{live_server.url}/accounts/email/")
    assert page.locator("main .email-choice").count() == 2
    shot(page, "fix-accounts-5b-email-short")
    page.click(".account a:has-text('API token')")
    assert page.locator("#token-status").inner_text() == "You have no API token."
    shot(page, "fix-accounts-6-no-token")
    page.click("button:has-text('Create an API token')")
    key = page.locator("#token-key").inner_text()
    assert len(key) == 40
    shot(page, "fix-accounts-7-new-token")
    page.goto(f"{live_server.url}/me/api-token/")
    assert key not in page.content()
    assert f"…{key[-4:]}" in page.locator("#token-status").inner_text()
    shot(page, "fix-accounts-8-has-token")
    page.click("button:has-text('Revoke token')")
    assert page.locator("#token-status").inner_text() == "You have no API token."
