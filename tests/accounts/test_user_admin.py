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
