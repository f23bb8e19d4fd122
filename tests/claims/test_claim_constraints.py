"""RELIABILITY C3 without threads (PostgreSQL and SQLite), and the audit trail's immutability."""

import pytest
from django.db import IntegrityError, connection, transaction

from claims import services
from claims.models import Claim, ClaimEvent, ImmutableEventError
from tests.factories import CaseFactory, ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_c3_database_rejects_a_second_active_claim_inserted_around_the_service():
    case = CaseFactory()
    owner, intruder = UserFactory(), UserFactory()
    services.claim_cases(user=owner, case_ids=[case.pk])
    with pytest.raises(IntegrityError), transaction.atomic():
        ClaimFactory(case=case, user=intruder)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO claims_claim (case_id, user_id, status, claimed_at, release_reason, score_at_claim,"
            " daily_price_cents, currency) VALUES (%s, %s, 'active', CURRENT_TIMESTAMP, '', 50, 100, 'usd')",
            [case.pk, intruder.pk],
        )
    assert Claim.objects.filter(case=case, status="active").count() == 1


def test_c3_out_of_step_case_row_still_answers_409(api_client):
    """An active claim inserted around the service (cases.assigned_to left empty) is still seen."""
    case = CaseFactory()
    ClaimFactory(case=case, user=UserFactory())
    api_client.force_authenticate(UserFactory())
    response = api_client.post(f"/api/v3/cases/{case.pk}/claim")
    assert (response.status_code, response.json()["code"]) == (409, "already_claimed")


@pytest.fixture
def event(subscriber) -> ClaimEvent:
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    return ClaimEvent.objects.get(case=case)


def test_audit_events_refuse_changes_through_the_orm(event):
    event.reason = "rewritten"
    with pytest.raises(ImmutableEventError):
        event.save()
    with pytest.raises(ImmutableEventError):
        event.delete()
    with pytest.raises(ImmutableEventError):
        ClaimEvent.objects.filter(pk=event.pk).update(reason="rewritten")
    with pytest.raises(ImmutableEventError):
        ClaimEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(ImmutableEventError):
        ClaimEvent.objects.bulk_update([event], ["reason"])
    event.refresh_from_db()
    assert event.reason == "" and ClaimEvent.objects.count() == 1


@pytest.mark.postgres
def test_audit_table_rejects_raw_update_and_delete_on_postgres(event):
    for sql in (
        "UPDATE claims_claimevent SET reason = 'x' WHERE id = %s",
        "DELETE FROM claims_claimevent WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cur:
            cur.execute(sql, [event.pk])
    event.refresh_from_db()
    assert event.reason == ""
