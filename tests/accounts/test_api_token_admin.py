"""The back office's API token list: staff see whose tokens exist and can revoke one (audited), but never a key,
which would let them act as its owner through the API."""

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import services
from accounts.models import UserEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = "/admin/accounts/apitoken/"


@pytest.fixture
def root(client):
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    return client


def _api_status(key: str) -> int:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api.get("/api/v3/claims/count").status_code


def test_no_page_of_the_token_admin_shows_a_key(root, subscriber):
    key = services.api_token_issue(user=subscriber).key
    pages = [
        LIST,
        f"{LIST}?q=sub%40example",
        f"{LIST}{subscriber.pk}/delete/",
        "/admin/",
        "/admin/accounts/",
    ]
    for url in pages:
        response = root.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert key not in html, url
    assert "<h1>Revoke API token</h1>" in root.get(f"{LIST}{subscriber.pk}/delete/").content.decode()
    listing = root.get(LIST).content.decode()
    assert f"…{key[-4:]}" in listing and subscriber.email in listing
    assert f'href="{LIST}{subscriber.pk}/delete/"' in listing  # revoking is reached by the owner's id, not the key
    assert f"{LIST}{key}" not in listing
    assert root.get(f"{LIST}{subscriber.pk}/change/").status_code == 404  # no page per token (it would link the
    assert root.get(f"{LIST}{key}/history/").status_code == 404  # key in its history and delete links)
    assert root.get("/admin/authtoken/tokenproxy/").status_code == 404  # DRF's admin, which listed keys, is gone


def test_staff_revoke_a_token_the_owner_then_gets_401_and_the_trail_names_the_staff_member(root, subscriber):
    key = services.api_token_issue(user=subscriber).key
    assert _api_status(key) == 200
    response = root.post(f"{LIST}{subscriber.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert not Token.objects.filter(user=subscriber).exists()
    assert _api_status(key) == 401
    event = UserEvent.objects.get(user=subscriber, action=UserEvent.Action.API_TOKEN_REVOKED)
    assert event.actor.email == "root@example.com" and event.reason == "Revoked by staff in the admin"
    assert event.from_value == f"…{key[-4:]}"
    (entry,) = LogEntry.objects.all()  # the admin log has it, by the owner's id: Django's would store the key
    assert (entry.object_id, entry.object_repr) == (str(subscriber.pk), f"…{key[-4:]} of {subscriber.email}")
    assert key not in response.content.decode()


def test_tokens_cannot_be_added_or_edited_in_the_admin(root, subscriber):
    services.api_token_issue(user=subscriber)
    assert root.get(f"{LIST}add/").status_code == 403
    assert root.post(f"{LIST}{subscriber.pk}/change/", {"user": subscriber.pk}).status_code == 404
    assert "Add API token" not in root.get(LIST).content.decode()


@pytest.mark.parametrize("odd", ["0", "-1", "abc", "99999999999999999999", "٣"])
def test_odd_ids_are_not_found_not_errors(root, subscriber, odd):
    services.api_token_issue(user=subscriber)
    response = root.get(f"{LIST}{odd}/delete/", follow=True)
    assert response.status_code == 200 and "doesn’t exist" in response.content.decode()


def test_staff_without_the_permission_see_no_tokens(client, subscriber):
    services.api_token_issue(user=subscriber)
    ops = UserFactory(email="ops@example.com", role="staff", is_staff=True)
    ops.user_permissions.add(*Permission.objects.filter(codename="view_user"))
    client.force_login(ops)
    assert client.get(LIST).status_code == 403
    ops.user_permissions.add(*Permission.objects.filter(codename="view_apitoken"))
    client.force_login(ops)
    listing = client.get(LIST)
    assert listing.status_code == 200 and "…" in listing.content.decode()
    assert "Revoke…" not in listing.content.decode()  # viewing is not revoking
    assert client.post(f"{LIST}{subscriber.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Token.objects.filter(user=subscriber).exists()
