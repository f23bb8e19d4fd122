"""Staff changes to an account — claim limit and billing flag — through the admin API and the user admin, each
audited in the append-only UserEvent; the service takes the same user-row lock as the claim path."""

import threading
import time

import pytest
from django.contrib.auth.models import Permission
from django.db import DatabaseError, connection, transaction

from accounts import services
from accounts.models import ImmutableUserEventError, User, UserEvent
from claims import services as claim_services
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db


def limit_url(user_id: int) -> str:
    return f"/api/v3/admin/users/{user_id}/set-claim-limit"


def billing_url(user_id: int) -> str:
    return f"/api/v3/admin/users/{user_id}/toggle-billing"


@pytest.fixture
def ops(api_client):
    user = UserFactory(email="ops@example.com", role="staff")
    user.user_permissions.add(Permission.objects.get(content_type__app_label="accounts", codename="change_user"))
    api_client.force_authenticate(user)
    api_client.user = user
    return api_client


def test_set_claim_limit_is_audited(ops, subscriber):
    claim_services.claim_cases(user=subscriber, case_ids=[c.pk for c in CaseFactory.create_batch(4)])
    response = ops.post(limit_url(subscriber.pk), {"claim_limit": 3, "reason": "new account"}, format="json")
    assert response.status_code == 200
    # Lowering below what is held keeps the claims; the answer says so.
    assert response.json() == {
        "user_id": subscriber.pk,
        "claim_limit": 3,
        "previous": 50,
        "changed": True,
        "active_claims": 4,
    }
    subscriber.refresh_from_db()
    assert subscriber.claim_limit == 3
    event = UserEvent.objects.get()
    assert (event.user, event.actor, event.action, event.from_value, event.to_value, event.reason) == (
        subscriber,
        ops.user,
        "claim_limit_set",
        "50",
        "3",
        "new account",
    )
    # And the new limit is what the next claim meets.
    refused = claim_services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    assert refused.outcomes[0].outcome == claim_services.Outcome.LIMIT_REACHED


def test_setting_the_same_limit_writes_no_audit_row(ops, subscriber):
    response = ops.post(limit_url(subscriber.pk), {"claim_limit": 50}, format="json")
    assert response.status_code == 200 and response.json()["changed"] is False
    assert not UserEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [{"claim_limit": 0}, {"claim_limit": 251}, {"claim_limit": -1}, {"claim_limit": "ten"}, {}, {"claim_limit": None}],
)
def test_claim_limit_outside_1_to_250_is_400_invalid(ops, subscriber, body):
    response = ops.post(limit_url(subscriber.pk), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    subscriber.refresh_from_db()
    assert subscriber.claim_limit == 50 and not UserEvent.objects.exists()


@pytest.mark.parametrize("limit", [1, 250])
def test_claim_limit_bounds_are_accepted(ops, subscriber, limit):
    assert ops.post(limit_url(subscriber.pk), {"claim_limit": limit}, format="json").json()["claim_limit"] == limit


def test_toggle_billing_flips_and_says_the_new_value(ops, subscriber):
    off = ops.post(billing_url(subscriber.pk), {"reason": "friend of the house"}, format="json")
    assert off.status_code == 200
    assert off.json() == {"user_id": subscriber.pk, "billing_active": False, "previous": True, "changed": True}
    assert User.objects.get(pk=subscriber.pk).billing_active is False
    on = ops.post(billing_url(subscriber.pk))
    assert on.json()["billing_active"] is True
    assert list(
        UserEvent.objects.order_by("id").values_list("action", "from_value", "to_value", "actor", "reason")
    ) == [
        ("billing_set", "on", "off", ops.user.pk, "friend of the house"),
        ("billing_set", "off", "on", ops.user.pk, ""),
    ]


def test_toggle_billing_with_an_explicit_value_is_idempotent(ops, subscriber):
    for _ in range(2):
        response = ops.post(billing_url(subscriber.pk), {"billing_active": False}, format="json")
        assert response.json()["billing_active"] is False
    assert [r.json()["changed"] for r in [response]] == [False]
    assert UserEvent.objects.count() == 1


@pytest.mark.parametrize("body", [{"billing_active": "perhaps"}, {"reason": "x" * 201}])
def test_toggle_billing_bad_input_is_400(ops, subscriber, body):
    response = ops.post(billing_url(subscriber.pk), body, format="json")
    assert response.status_code == 400 and response.json()["code"] in ("invalid", "invalid_reason")
    assert User.objects.get(pk=subscriber.pk).billing_active is True and not UserEvent.objects.exists()


@pytest.mark.parametrize("url", [limit_url, billing_url])
@pytest.mark.parametrize("user_id", [424_242, 2**63])
def test_unknown_user_is_404(ops, url, user_id):
    response = ops.post(url(user_id), {"claim_limit": 5}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_only_staff_with_change_user_may(api_client, subscriber):
    bare = UserFactory(email="bare@example.com", role="staff")
    for who in (bare, subscriber):
        api_client.force_authenticate(who)
        assert api_client.post(limit_url(subscriber.pk), {"claim_limit": 250}, format="json").status_code == 403
        assert api_client.post(billing_url(subscriber.pk)).status_code == 403
    api_client.force_authenticate(None)
    assert api_client.post(billing_url(subscriber.pk)).status_code == 401
    subscriber.refresh_from_db()
    assert (subscriber.claim_limit, subscriber.billing_active) == (50, True) and not UserEvent.objects.exists()


def test_the_services_refuse_non_staff_actors(subscriber, other_subscriber):
    with pytest.raises(services.AccountError) as exc:
        services.user_set_claim_limit(actor=subscriber, user=other_subscriber, claim_limit=200)
    assert exc.value.code == "forbidden"
    with pytest.raises(services.AccountError):
        services.user_set_billing(actor=subscriber, user=subscriber, billing_active=False)
    assert not UserEvent.objects.exists()


def test_user_admin_changes_go_through_the_audited_services(client, subscriber):
    boss = UserFactory(email="boss@example.com", is_superuser=True)
    client.force_login(boss)
    data = {
        "email": subscriber.email,
        "first_name": "",
        "last_name": "",
        "role": "subscriber",
        "claim_limit": 12,
        # billing_active unticked: off
        "is_active": "on",
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = client.post(f"/admin/accounts/user/{subscriber.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else ""
    subscriber.refresh_from_db()
    assert (subscriber.claim_limit, subscriber.billing_active) == (12, False)
    assert set(UserEvent.objects.values_list("action", "from_value", "to_value", "actor", "reason")) == {
        ("claim_limit_set", "50", "12", boss.pk, "Changed in the user admin"),
        ("billing_set", "on", "off", boss.pk, "Changed in the user admin"),
    }
    page = client.get(f"/admin/accounts/user/{subscriber.pk}/change/").content.decode()
    assert "Claim limit set" in page and "Billing switched" in page  # the trail is shown on the user


def test_user_changelist_inline_edit_is_audited(client, subscriber):
    boss = UserFactory(email="boss@example.com", is_superuser=True)
    client.force_login(boss)
    data = {
        "form-TOTAL_FORMS": "1",
        "form-INITIAL_FORMS": "1",
        "form-0-id": str(subscriber.pk),
        "form-0-claim_limit": "9",
        "_save": "Save",
    }
    response = client.post(f"/admin/accounts/user/?q={subscriber.email}", data)
    assert response.status_code == 302
    assert User.objects.get(pk=subscriber.pk).claim_limit == 9
    assert UserEvent.objects.get().to_value == "9"


def test_user_events_are_append_only(subscriber, staff_user, on_postgres):
    change = services.user_set_claim_limit(actor=staff_user, user=subscriber, claim_limit=5)
    assert change.changed
    event = UserEvent.objects.get()
    event.reason = "rewritten"
    with pytest.raises(ImmutableUserEventError):
        event.save()
    with pytest.raises(ImmutableUserEventError):
        UserEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(ImmutableUserEventError):
        event.delete()
    if on_postgres:  # the trigger refuses raw SQL too
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_userevent SET reason = 'x' WHERE id = %s", [event.pk])
    assert UserEvent.objects.get().reason == ""


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_limit_change_waits_for_a_claim_holding_the_user_lock():
    """The limit service locks the user row, as claim_cases does first: a change never slips in mid-claim."""
    from django.db import connections

    staff = UserFactory(email="lock-staff@example.com", role="staff")
    user = UserFactory(email="lock-user@example.com")
    holding, done = threading.Event(), threading.Event()
    release = threading.Event()
    result: dict = {}

    def hold() -> None:
        try:
            with transaction.atomic():
                User.objects.select_for_update().get(pk=user.pk)  # what claims.services._lock_user does
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    def change() -> None:
        try:
            result["change"] = services.user_set_claim_limit(actor=staff, user=user, claim_limit=7)
        finally:
            done.set()
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    assert holding.wait(10)
    changer = threading.Thread(target=change)
    changer.start()
    waited = False
    for _ in range(50):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
                ["%accounts_user%FOR UPDATE%"],
            )
            if cursor.fetchone()[0]:
                waited = True
                break
        time.sleep(0.05)
    assert waited and not done.is_set()
    release.set()
    holder.join(10)
    changer.join(10)
    assert result["change"].changed and User.objects.get(pk=user.pk).claim_limit == 7
