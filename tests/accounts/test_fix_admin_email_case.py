"""The user admin refuses an e-mail address that differs from another user's only in case (it was a 500)."""

import pytest

from accounts.forms import EMAIL_TAKEN
from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(User.objects.create_superuser("root@jsn.local", "pw-123456789"))
    return client


def _change_data(user: User, email: str) -> dict:
    return {
        "email": email,
        "first_name": "",
        "last_name": "",
        "role": user.role,
        "claim_limit": user.claim_limit,
        "billing_active": "on",
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }


def test_changing_an_email_to_another_users_in_other_case_is_a_form_error(admin_client):
    UserFactory(email="alice@jsn.local")
    bob = UserFactory(email="bob@jsn.local")
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/change/", _change_data(bob, "Alice@JSN.local"))
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [EMAIL_TAKEN]
    assert EMAIL_TAKEN in response.content.decode()
    bob.refresh_from_db()
    assert bob.email == "bob@jsn.local"


def test_a_user_may_keep_their_own_address_in_other_case(admin_client):
    bob = UserFactory(email="bob@jsn.local")
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/change/", _change_data(bob, "Bob@JSN.local"))
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.email == "bob@jsn.local"


def test_adding_a_user_with_an_existing_address_in_other_case_is_a_form_error(admin_client):
    UserFactory(email="alice@jsn.local")
    data = {
        "email": "Alice@JSN.local",
        "role": "subscriber",
        "usable_password": "true",
        "password1": "a-long-new-password-42",
        "password2": "a-long-new-password-42",
    }
    response = admin_client.post("/admin/accounts/user/add/", data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["email"] == [EMAIL_TAKEN]
    assert User.objects.filter(email__iexact="alice@jsn.local").count() == 1


def test_adding_a_user_stores_the_address_lowercased(admin_client):
    data = {
        "email": "Carol@JSN.local",
        "role": "subscriber",
        "usable_password": "true",
        "password1": "a-long-new-password-42",
        "password2": "a-long-new-password-42",
    }
    assert admin_client.post("/admin/accounts/user/add/", data).status_code == 302
    assert User.objects.filter(email="carol@jsn.local").exists()
