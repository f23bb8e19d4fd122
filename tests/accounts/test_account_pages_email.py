"""The e-mail addresses page offers, per address, only the actions allauth would carry out: nothing for a lone
verified primary address, Re-send only for an unverified one, Make primary only for a verified one that is not
primary, Remove only for one that is not primary. Each button does what it says."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.core import mail

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROW = re.compile(r'<li class="email-choice">(.*?)</li>', re.S)
BUTTON = re.compile(r'<button [^>]*name="(action_\w+)"')


def address_rows(html: str) -> dict[str, dict]:
    """Each listed address → its state badges and the action buttons offered for it."""
    rows = {}
    for row in ROW.findall(html):
        address = re.search(r'<span class="address">([^<]+)</span>', row).group(1)
        rows[address] = {
            "badges": set(re.findall(r'<span class="badge \w+">(\w+)</span>', row)),
            "actions": set(BUTTON.findall(row)),
            "posts": re.findall(r'<input type="hidden" name="email" value="([^"]+)">', row),
        }
    return rows


@pytest.fixture
def member(client):
    user = UserFactory(email="member@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    client.force_login(user)
    return user


def page(client) -> str:
    response = client.get("/accounts/email/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_lone_verified_primary_address_is_shown_with_its_state_and_no_buttons(client, member):
    html = page(client)
    assert address_rows(html) == {
        "member@example.com": {"badges": {"Verified", "Primary"}, "actions": set(), "posts": []}
    }
    for name in ("action_primary", "action_send", "action_remove"):
        assert f'name="{name}"' not in html
    assert "Make primary" not in html and "Re-send verification</button>" not in html and "Remove</button>" not in html
    assert "add it below, confirm it from the e-mail JSN sends, make it primary, then remove this one" in html
    assert '<button class="btn" type="submit" name="action_add">Add e-mail address</button>' in html


def test_an_unverified_second_address_can_be_sent_its_link_again_or_removed(client, member):
    EmailAddress.objects.create(user=member, email="second@example.com", verified=False, primary=False)
    rows = address_rows(page(client))
    assert rows["member@example.com"]["actions"] == set()
    assert rows["second@example.com"] == {
        "badges": {"Unverified"},
        "actions": {"action_send", "action_remove"},
        "posts": ["second@example.com"],
    }


def test_a_verified_second_address_can_be_made_primary_or_removed(client, member):
    EmailAddress.objects.create(user=member, email="second@example.com", verified=True, primary=False)
    rows = address_rows(page(client))
    assert rows["member@example.com"]["actions"] == set()
    assert rows["second@example.com"]["actions"] == {"action_primary", "action_remove"}


def test_a_lone_unverified_address_can_only_be_sent_its_link_again(client):
    user = UserFactory(email="fresh@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    client.force_login(user)
    rows = address_rows(page(client))
    assert rows == {
        "fresh@example.com": {
            "badges": {"Unverified", "Primary"},
            "actions": {"action_send"},
            "posts": ["fresh@example.com"],
        }
    }


def test_make_primary_moves_the_primary_badge(client, member):
    EmailAddress.objects.create(user=member, email="second@example.com", verified=True, primary=False)
    response = client.post("/accounts/email/", {"email": "second@example.com", "action_primary": ""}, follow=True)
    assert "Primary email address set." in response.content.decode()
    rows = address_rows(response.content.decode())
    assert rows["second@example.com"]["badges"] == {"Verified", "Primary"}
    assert rows["member@example.com"]["actions"] == {"action_primary", "action_remove"}
    member.refresh_from_db()
    assert member.email == "second@example.com"


def test_remove_takes_the_address_off_the_list(client, member):
    EmailAddress.objects.create(user=member, email="second@example.com", verified=False, primary=False)
    response = client.post("/accounts/email/", {"email": "second@example.com", "action_remove": ""}, follow=True)
    assert "Removed email address second@example.com." in response.content.decode()
    assert set(address_rows(response.content.decode())) == {"member@example.com"}


def test_resend_mails_a_new_confirmation_link(client, member):
    EmailAddress.objects.create(user=member, email="second@example.com", verified=False, primary=False)
    mail.outbox.clear()
    response = client.post("/accounts/email/", {"email": "second@example.com", "action_send": ""}, follow=True)
    assert "Confirmation email sent to second@example.com." in response.content.decode()
    (message,) = mail.outbox
    assert message.to == ["second@example.com"]
    assert "/accounts/confirm-email/" in message.body


def test_adding_an_address_lists_it_unverified_with_its_actions(client, member):
    response = client.post("/accounts/email/", {"email": "new@example.com", "action_add": ""}, follow=True)
    assert response.status_code == 200
    assert address_rows(response.content.decode())["new@example.com"]["actions"] == {"action_send", "action_remove"}
