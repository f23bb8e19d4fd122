"""S4: a signed download link works only for its user, within the hour, while they still own the case.

Expired, tampered, other user's, after-release, after-reassignment and after-logout links are all refused and
logged; every answer carries `Cache-Control: no-store` and a strict Referrer-Policy; the token is never logged.
"""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.core import signing
from django.test import Client
from django.utils import timezone

from cases.documents import LINK_SALT
from cases.models import DocumentAccess
from claims.models import Claim
from tests.factories import UserFactory, secrets_of
from tests.security.documents_helpers import body_of, stored_document, token_of

pytestmark = pytest.mark.django_db

STRICT_REFERRER = {"no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"}


@pytest.fixture
def owned(make_case, subscriber):
    now = timezone.now()
    case = make_case(assigned_to=subscriber, assigned_at=now)
    Claim.objects.create(case=case, user=subscriber, claimed_at=now, score_at_claim=75, daily_price_cents=500)
    return case, stored_document(case)


@pytest.fixture
def link(client, subscriber, owned):
    client.force_login(subscriber)
    response = client.post(f"/api/v3/documents/{owned[1].pk}/link")
    assert response.status_code == 201
    return response.json()["url"].removeprefix("http://testserver")


def _assert_private(response) -> None:
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] in STRICT_REFERRER


def _assert_refused(response, status: int, reason: str) -> None:
    assert response.status_code == status
    _assert_private(response)
    assert b"%PDF" not in body_of(response)
    last = DocumentAccess.objects.filter(action="download").latest("id")
    assert (last.result, last.reason) == ("refused", reason)


def test_a_fresh_link_works_for_its_owner(client, link):
    response = client.get(link)
    assert response.status_code == 200 and body_of(response).startswith(b"%PDF")
    _assert_private(response)


def test_an_expired_link_is_refused(client, link):
    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        _assert_refused(client.get(link), 410, "expired")
    with time_machine.travel(timezone.now() + timedelta(minutes=59)):
        assert client.get(link).status_code == 200  # max_age is really checked: just inside the hour works


@pytest.mark.parametrize("how", ["flip_signature", "swap_document", "truncate", "garbage"])
def test_a_tampered_link_is_refused(client, link, owned, how):
    token = token_of(link)
    if how == "flip_signature":
        forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    elif how == "swap_document":
        payload = signing.loads(token, salt=LINK_SALT)
        other = stored_document(owned[0])
        # Same signature, different payload: the signature no longer matches.
        forged_payload = signing.dumps({**payload, "d": other.pk}, salt=LINK_SALT).split(":", 1)[0]
        forged = forged_payload + ":" + token.split(":", 1)[1]
    elif how == "truncate":
        forged = token[: len(token) // 2]
    else:
        forged = "not-a-token"
    _assert_refused(client.get(f"/cases/documents/download/{forged}/"), 404, "bad_signature")


def test_a_link_signed_with_another_salt_is_refused(client, subscriber, owned):
    client.force_login(subscriber)
    forged = signing.dumps({"u": subscriber.pk, "d": owned[1].pk}, salt="something-else")
    _assert_refused(client.get(f"/cases/documents/download/{forged}/"), 404, "bad_signature")


def test_another_users_link_is_refused(client, link, other_subscriber, staff_user):
    for user in (other_subscriber, staff_user):  # even staff, who could ask for their own link
        client.force_login(user)
        response = client.get(link)
        _assert_refused(response, 403, "other_user")
        assert DocumentAccess.objects.latest("id").user == user


def test_a_release_kills_links_already_issued(client, link, owned):
    case, _document = owned
    Claim.objects.filter(case=case).update(status=Claim.Status.RELEASED, released_at=timezone.now())
    case.assigned_to = None
    case.assigned_at = None
    case.save(update_fields=["assigned_to", "assigned_at"])
    response = client.get(link)
    _assert_refused(response, 403, "not_owner")
    for secret in secrets_of(case):
        assert secret not in response.content.decode()


def test_a_reassignment_kills_links_already_issued(client, link, owned, other_subscriber):
    case, _document = owned
    case.assigned_to = other_subscriber
    case.save(update_fields=["assigned_to"])
    _assert_refused(client.get(link), 403, "not_owner")


def test_a_link_after_logout_is_refused_without_putting_it_in_a_login_url(client, link):
    client.logout()
    response = client.get(link)
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"  # no ?next= carrying the token
    _assert_private(response)
    last = DocumentAccess.objects.latest("id")
    assert (last.result, last.reason, last.user) == ("refused", "not_logged_in", None)


def test_a_deactivated_owner_is_refused(client, link, subscriber):
    subscriber.is_active = False
    subscriber.save(update_fields=["is_active"])
    response = client.get(link)
    assert response.status_code in (302, 403)
    assert b"%PDF" not in body_of(response)


def test_the_token_never_appears_in_logs(caplog, link, subscriber, other_subscriber, owned):
    caplog.set_level(logging.DEBUG)
    token = token_of(link)
    owner = Client()
    owner.force_login(subscriber)
    other = Client()
    other.force_login(other_subscriber)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(subscriber)
    answers = [
        owner.get(link).status_code,  # allowed
        other.get(link).status_code,  # other user
        Client().get(link).status_code,  # logged out
        owner.post(link).status_code,  # wrong method
        strict.post(link).status_code,  # CSRF failure
        owner.get(link.replace(token, token + "x")).status_code,  # tampered
        owner.get(link + "extra/").status_code,  # no such route
    ]
    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        answers.append(owner.get(link).status_code)  # expired
    assert answers == [200, 403, 302, 405, 403, 404, 404, 410]
    assert token not in caplog.text
    assert token.split(":")[0] not in caplog.text  # not even the readable payload part
    assert "[redacted]" in caplog.text  # the paths were logged, without the token


def test_staff_role_removed_means_no_more_downloads(client, make_case):
    staff = UserFactory(email="ops@example.com", role="staff")
    document = stored_document(make_case())
    client.force_login(staff)
    url = client.post(f"/api/v3/documents/{document.pk}/link").json()["url"]
    staff.role = "subscriber"
    staff.is_staff = False
    staff.save()
    _assert_refused(client.get(url), 403, "not_owner")


def test_a_script_downloads_its_link_with_the_same_api_token_and_only_its_own(subscriber, other_subscriber, owned):
    """The API hands out the link; a token client (no session) must be able to use it, and only for itself."""
    from rest_framework.authtoken.models import Token

    mine = Token.objects.create(user=subscriber).key
    theirs = Token.objects.create(user=other_subscriber).key
    script = Client(HTTP_AUTHORIZATION=f"Token {mine}")
    made = script.post(f"/api/v3/documents/{owned[1].pk}/link")
    assert made.status_code == 201
    url = made.json()["url"].removeprefix("http://testserver")

    response = script.get(url)
    assert response.status_code == 200 and body_of(response).startswith(b"%PDF")
    _assert_private(response)
    assert DocumentAccess.objects.filter(action="download").latest("id").user == subscriber

    _assert_refused(Client(HTTP_AUTHORIZATION=f"Token {theirs}").get(url), 403, "other_user")
    bad = Client(HTTP_AUTHORIZATION="Token not-a-real-key").get(url)
    _assert_refused(bad, 401, "not_logged_in")
    assert bad["WWW-Authenticate"] == "Token" and "Location" not in bad  # an answer a script can read, no login page
    assert b"%PDF" not in body_of(bad)


def test_the_token_header_wins_over_a_session_cookie(client, link, other_subscriber):
    from rest_framework.authtoken.models import Token

    # The owner's browser session is in `client`; a wrong token sent along is refused, not ignored.
    key = Token.objects.create(user=other_subscriber).key
    _assert_refused(client.get(link, HTTP_AUTHORIZATION=f"Token {key}"), 403, "other_user")
