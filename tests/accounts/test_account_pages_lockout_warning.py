"""The log-in form warns when a wrong password leaves only one or two attempts before django-axes locks the
account, with the configured limit and lock time, and answers alike whether or not an account uses the address."""

from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress

from accounts.axes import lockout_duration_text
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOT_CORRECT = "The email address and/or password you specified are not correct."


@pytest.fixture
def victim():
    user = UserFactory(email="victim@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def fail(client, login: str = "victim@example.com", password: str = "wrong-password"):
    return client.post("/accounts/login/", {"login": login, "password": password})


def error(response) -> str:
    assert response.status_code == 200  # the form again
    return " ".join(response.context["form"].non_field_errors())


def test_the_third_and_fourth_failures_of_five_warn_then_the_fifth_locks(client, victim):
    assert error(fail(client)) == NOT_CORRECT
    assert error(fail(client)) == NOT_CORRECT
    third = fail(client)
    assert error(third) == f"{NOT_CORRECT} 2 attempts left before this account is locked for 1 hour."
    assert (
        '<p class="msg error" role="alert">The email address and/or password you specified are not correct. '
        "2 attempts left before this account is locked for 1 hour.</p>"
    ) in third.content.decode()
    assert error(fail(client)) == f"{NOT_CORRECT} 1 attempt left before this account is locked for 1 hour."
    locked = fail(client)
    assert locked.status_code == 429
    assert "Too many failed log-in attempts" in locked.content.decode()


def test_an_address_without_an_account_is_warned_at_the_same_attempts(client, victim):
    for login in ("victim@example.com", "nobody@example.com"):
        answers = [error(fail(client, login)) for _ in range(4)]
        assert answers == [
            NOT_CORRECT,
            NOT_CORRECT,
            f"{NOT_CORRECT} 2 attempts left before this account is locked for 1 hour.",
            f"{NOT_CORRECT} 1 attempt left before this account is locked for 1 hour.",
        ], login
        assert fail(client, login).status_code == 429


def test_the_count_is_per_address_whatever_its_case(client, victim):
    fail(client, "Victim@Example.com")
    fail(client, " VICTIM@example.com")
    assert "2 attempts left" in error(fail(client, "victim@example.com"))
    assert error(fail(client, "someone-else@example.com")) == NOT_CORRECT  # another address has its own count


def test_the_warning_follows_the_configured_limit_and_lock_time(client, victim, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = 0.5
    assert error(fail(client)) == f"{NOT_CORRECT} 2 attempts left before this account is locked for 30 minutes."
    assert error(fail(client)) == f"{NOT_CORRECT} 1 attempt left before this account is locked for 30 minutes."
    assert fail(client).status_code == 429


def test_a_higher_limit_warns_only_near_its_end(client, victim, settings):
    settings.AXES_FAILURE_LIMIT = 10
    settings.AXES_COOLOFF_TIME = 24.0
    answers = [error(fail(client)) for _ in range(9)]
    assert answers[:7] == [NOT_CORRECT] * 7
    assert answers[7:] == [
        f"{NOT_CORRECT} 2 attempts left before this account is locked for 24 hours.",
        f"{NOT_CORRECT} 1 attempt left before this account is locked for 24 hours.",
    ]


def test_a_successful_log_in_starts_the_count_again(client, victim):
    for _ in range(3):
        fail(client)
    assert (
        client.post("/accounts/login/", {"login": victim.email, "password": "correct-horse-battery"}).status_code == 302
    )
    client.logout()
    assert error(fail(client)) == NOT_CORRECT


def test_a_wrong_current_password_on_the_change_page_does_not_warn(client, victim):
    """Changing the password checks the old one without logging in: axes counts nothing, so nothing is announced."""
    client.force_login(victim)
    for _ in range(4):
        data = {
            "oldpassword": "not-my-password",
            "password1": "a-new-passphrase-99",
            "password2": "a-new-passphrase-99",
        }
        response = client.post("/accounts/password/change/", data)
        assert "attempt" not in response.content.decode()


@pytest.mark.parametrize(
    ("cool_off", "text"),
    [
        (timedelta(hours=1), "for 1 hour"),
        (timedelta(hours=2), "for 2 hours"),
        (timedelta(minutes=30), "for 30 minutes"),
        (timedelta(minutes=90), "for 90 minutes"),
        (timedelta(minutes=1), "for 1 minute"),
        (timedelta(seconds=20), "for 20 seconds"),
        (None, "until JSN staff unlock it"),
    ],
)
def test_the_lock_time_reads_as_people_say_it(cool_off, text):
    assert lockout_duration_text(cool_off) == text


def test_re_entering_a_wrong_password_to_confirm_access_warns_too(client, victim):
    """allauth's "Confirm it's you" page authenticates like a log-in, so axes counts its failures for the account."""
    client.force_login(victim)
    answers = [
        " ".join(client.post("/accounts/reauthenticate/", {"password": "wrong"}).context["form"].errors["password"])
        for _ in range(4)
    ]
    assert answers[:2] == ["Incorrect password."] * 2
    assert answers[2:] == [
        "Incorrect password. 2 attempts left before this account is locked for 1 hour.",
        "Incorrect password. 1 attempt left before this account is locked for 1 hour.",
    ]
