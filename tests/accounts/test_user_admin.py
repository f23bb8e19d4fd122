import pytest
from django.contrib.auth.models import Permission

from accounts.models import User
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_staff_without_superuser_cannot_grant_privileges(client):
    staff = UserFactory(email="ops@example.com", role="staff")
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["change_user", "view_user"]))
    target = UserFactory(email="friend@example.com")
    client.force_login(staff)
    page = client.get(f"/admin/accounts/user/{target.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    assert "is_superuser" not in form.fields and "role" not in form.fields and "groups" not in form.fields
    data = {
        "email": target.email,
        "first_name": "",
        "last_name": "",
        "claim_limit": 10,
        "billing_active": "on",
        "is_active": "on",
        "is_superuser": "on",
        "role": "admin",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    client.post(f"/admin/accounts/user/{target.pk}/change/", data)
    target.refresh_from_db()
    assert not target.is_superuser and target.role == User.Role.SUBSCRIBER and not target.is_staff
    assert target.claim_limit == 10  # what staff may change still changes


def test_superuser_can_grant_roles(client):
    admin_user = User.objects.create_superuser("root@example.com", "pw-123456789")
    client.force_login(admin_user)
    target = UserFactory(email="promote@example.com")
    form = client.get(f"/admin/accounts/user/{target.pk}/change/").context["adminform"].form
    assert "role" in form.fields and "is_superuser" in form.fields


def _limit_form(target: User, claim_limit: object) -> dict:
    return {
        "email": target.email,
        "first_name": "",
        "last_name": "",
        "claim_limit": claim_limit,
        "billing_active": "on",
        "is_active": "on",
        "role": target.role,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }


@pytest.mark.parametrize("bad", ["0", "-1", "251"])
def test_a_claim_limit_out_of_range_gets_the_same_clear_error(client, bad):
    client.force_login(User.objects.create_superuser("root@example.com", "pw-123456789"))
    target = UserFactory(email="limits@example.com", claim_limit=7)
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", _limit_form(target, bad))
    assert response.status_code == 200
    error = response.context["adminform"].form.errors["claim_limit"][0]
    expected = "greater than or equal to 1" if bad != "251" else "less than or equal to 250"
    assert expected in error
    target.refresh_from_db()
    assert target.claim_limit == 7


def test_lowering_a_limit_below_what_the_user_holds_warns_staff(client):
    from claims import services as claims
    from tests.factories import CaseFactory

    client.force_login(User.objects.create_superuser("root@example.com", "pw-123456789"))
    target = UserFactory(email="holder@example.com", claim_limit=10)
    claims.claim_cases(user=target, case_ids=[c.pk for c in CaseFactory.create_batch(5)])
    response = client.post(f"/admin/accounts/user/{target.pk}/change/", _limit_form(target, 2), follow=True)
    html = response.content.decode()
    assert "The user holder@example.com holds 5 active claims, more than the new limit of 2: they keep them" in html
    target.refresh_from_db()
    assert target.claim_limit == 2
    calm = client.post(f"/admin/accounts/user/{target.pk}/change/", _limit_form(target, 8), follow=True)
    assert "more than the new limit" not in calm.content.decode()
