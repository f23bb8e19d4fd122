"""S5: brute force against the site login and the admin login."""

import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def verified_user():
    user = UserFactory(email="victim@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _attempt(client, password: str, ip: str):
    return client.post(
        "/accounts/login/",
        {"login": "victim@example.com", "password": password},
        HTTP_X_FORWARDED_FOR=ip,
        REMOTE_ADDR=ip,
    )


def test_sixth_attempt_is_locked_even_with_rotating_addresses(client, verified_user):
    for i in range(4):
        response = _attempt(client, f"wrong-{i}", ip=f"203.0.113.{i + 1}")
        assert response.status_code == 200  # the form again, with an error
        assert "not correct" in response.content.decode()
    # The fifth failure locks the account: its answer already says so.
    assert _attempt(client, "wrong-5", ip="203.0.113.99").status_code == 429
    # Even the right password is refused now, from yet another address.
    response = _attempt(client, "correct-horse-battery", ip="198.51.100.77")
    assert response.status_code == 429
    assert "Too many failed log-in attempts" in response.content.decode()
    assert "locked for 1 hour after the last failed attempt" in response.content.decode()  # how long, not "a while"
    assert "_auth_user_id" not in client.session


def test_unknown_account_and_wrong_password_answer_alike(client, verified_user):
    wrong = client.post("/accounts/login/", {"login": "victim@example.com", "password": "nope-nope"})
    unknown = client.post("/accounts/login/", {"login": "nobody@example.com", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 200

    def error_text(response) -> str:
        return str(response.context["form"].non_field_errors())

    assert error_text(wrong) == error_text(unknown)


def test_admin_login_goes_through_the_same_lockout(client, verified_user):
    verified_user.role = "staff"
    verified_user.save()
    for i in range(5):
        _attempt(client, f"wrong-{i}", ip="192.0.2.1")
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/")
    assert _attempt(client, "correct-horse-battery", ip="192.0.2.9").status_code == 429


def test_successful_login_rotates_the_session(client, verified_user):
    client.get("/accounts/login/")
    client.cookies["sessionid"] = "attacker-chosen-session-id"
    response = _attempt(client, "correct-horse-battery", ip="192.0.2.5")
    assert response.status_code == 302
    assert client.cookies["sessionid"].value != "attacker-chosen-session-id"


def test_too_many_password_reset_requests_get_the_sites_429_page(client, verified_user):
    """allauth's own rate limits (here: reset mails per address) answer with the site's page, not a bare one."""
    answers = [client.post("/accounts/password/reset/", {"email": verified_user.email}).status_code for _ in range(6)]
    assert answers[-1] == 429 and 429 not in answers[:5]
    page = client.post("/accounts/password/reset/", {"email": verified_user.email})
    assert page.status_code == 429
    html = page.content.decode()
    assert "<h1>Too many requests</h1>" in html and "Wait a few minutes" in html and 'class="card"' in html
