"""Admin API for claims: GET /api/v3/admin/claims (filters, pages without count) and
POST /api/v3/admin/users/{id}/release-all-claims (every release audited)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission

from claims import services
from claims.models import Claim, ClaimEvent
from tests.backoffice import builders
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

LIST = "/api/v3/admin/claims"


def release_all_url(user_id: int) -> str:
    return f"/api/v3/admin/users/{user_id}/release-all-claims"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def ops(api_client):
    user = UserFactory(email="ops@example.com", role="staff")
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="claims", codename__in=["view_claim", "change_claim"])
    )
    api_client.force_authenticate(user)
    api_client.user = user
    return api_client


@pytest.fixture
def book():
    alice, bob = UserFactory(email="alice@example.com"), UserFactory(email="bob@example.com")
    return {
        "alice": alice,
        "bob": bob,
        "a1": builders.claim(alice, claimed_at=at(1), cents=1000),
        "a2": builders.claim(alice, claimed_at=at(5), cents=1500),
        "b1": builders.claim(bob, claimed_at=at(3), cents=500),
        "r1": builders.claim(bob, claimed_at=at(2), released_at=at(4)),
    }


def _ids(response) -> list[int]:
    return [row["id"] for row in response.json()["results"]]


def test_list_newest_first_with_user_and_case(ops, book):
    response = ops.get(LIST)
    assert response.status_code == 200
    body = response.json()
    assert "count" not in body and body["next"] is None
    assert _ids(response) == [book["a2"].pk, book["b1"].pk, book["r1"].pk, book["a1"].pk]
    first = body["results"][0]
    assert first["user"] == {"id": book["alice"].pk, "email": "alice@example.com"}
    assert (first["case_id"], first["county"], first["state"]) == (book["a2"].case_id, "Miami-Dade", "FL")
    assert (first["status"], first["daily_price_cents"], first["currency"]) == ("active", 1500, "usd")
    assert "case_number" not in first and "street" not in first  # the list never carries masked case fields


def test_list_filters(ops, book):
    b = book
    assert _ids(ops.get(LIST, {"status": "released"})) == [b["r1"].pk]
    assert _ids(ops.get(LIST, {"user": "ALICE@example.com"})) == [b["a2"].pk, b["a1"].pk]
    assert _ids(ops.get(LIST, {"user": str(b["bob"].pk), "status": "active"})) == [b["b1"].pk]
    assert _ids(ops.get(LIST, {"case": b["a1"].case_id})) == [b["a1"].pk]
    assert _ids(ops.get(LIST, {"date_from": "2026-03-02", "date_to": "2026-03-03"})) == [b["b1"].pk, b["r1"].pk]


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "gone"}, "invalid"),
        ({"case": "x"}, "invalid"),
        ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "invalid"),
        ({"ordering": "user__email"}, "unknown_parameter"),
        ({"page_size": "0"}, "invalid"),
    ],
)
def test_bad_filters_answer_400_with_a_code(ops, book, params, code):
    response = ops.get(LIST, params)
    assert response.status_code == 400 and response.json()["code"] == code


def test_list_runs_a_fixed_number_of_queries(ops, book, django_assert_num_queries):
    for n in range(40):
        builders.claim(book["alice"], claimed_at=at(6), released_at=at(7, n % 12))
    with django_assert_num_queries(3):
        # 1–2 the permission check (the staff member's user and group permissions), 3 the page of claims with
        # their users and cases (select_related), no COUNT.
        response = ops.get(LIST, {"page_size": 30})
    assert len(response.json()["results"]) == 30 and response.json()["next"]


def test_release_all_claims_of_a_user_is_audited(ops, subscriber, other_subscriber):
    mine = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in mine])
    services.claim_cases(user=other_subscriber, case_ids=[CaseFactory().pk])
    response = ops.post(release_all_url(subscriber.pk), {"reason": "chargeback"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"user_id": subscriber.pk, "released": 3, "active_claims": 0}
    assert not Claim.objects.filter(user=subscriber, status="active").exists()
    assert Claim.objects.filter(user=other_subscriber, status="active").count() == 1
    events = ClaimEvent.objects.filter(action="released")
    assert {(e.actor_id, e.from_user_id, e.reason) for e in events} == {(ops.user.pk, subscriber.pk, "chargeback")}
    assert events.count() == 3
    again = ops.post(release_all_url(subscriber.pk), {}, format="json")
    assert again.status_code == 200 and again.json()["released"] == 0 and ClaimEvent.objects.count() == 7  # 4 + 3


def test_release_all_without_a_reason_records_who(ops, subscriber):
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    assert ops.post(release_all_url(subscriber.pk)).status_code == 200
    assert ClaimEvent.objects.get(action="released").reason == "All claims released by staff (ops@example.com)"


@pytest.mark.parametrize("body", [{"reason": "x" * 201}, {"reason": 5}])
def test_release_all_bad_reason_is_400(ops, subscriber, body):
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    response = ops.post(release_all_url(subscriber.pk), body, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid_reason"
    assert Claim.objects.filter(status="active").count() == 1


@pytest.mark.parametrize("user_id", [987_654, 2**63])
def test_release_all_unknown_user_is_404(ops, user_id):
    response = ops.post(release_all_url(user_id), {}, format="json")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_permissions(api_client, subscriber):
    services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    viewer = UserFactory(email="viewer@example.com", role="staff")
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="claims", codename="view_claim"))
    api_client.force_authenticate(viewer)
    assert api_client.get(LIST).status_code == 200
    assert api_client.post(release_all_url(subscriber.pk)).status_code == 403
    api_client.force_authenticate(subscriber)
    assert api_client.get(LIST).status_code == 403
    assert api_client.post(release_all_url(subscriber.pk)).status_code == 403
    api_client.force_authenticate(None)
    assert api_client.post(release_all_url(subscriber.pk)).status_code == 401
    assert Claim.objects.filter(status="active").count() == 1


@pytest.mark.parametrize(
    "params", [{"user": "99999999999999999999"}, {"case": "99999999999999999999"}, {"date_to": "9999-12-31"}]
)
def test_odd_query_values_are_answered_not_crashed(ops, book, params):
    assert ops.get(LIST, params).status_code in (200, 400)
