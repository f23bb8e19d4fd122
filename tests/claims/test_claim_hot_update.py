"""Claiming, releasing and reassigning rewrite the case row in place on PostgreSQL (a HOT update): no index of
cases_case covers the owner columns, so none of the table's indexes gets a new entry per ownership change
(cases migration 0005). An index on assigned_to added later would turn every such update into six index inserts;
these tests go red then."""

import pytest
from django.db import connection

from claims import services
from claims.models import Claim
from tests.factories import CaseFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db, pytest.mark.usefixtures("claim_path")]


def case_updates_counted() -> tuple[int, int]:
    """(row updates, of which HOT) on cases_case this backend has counted and not yet reported (this transaction's,
    and possibly a just-ended one's): compare before and after."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables WHERE relname = 'cases_case'")
        return cursor.fetchone()


def test_claim_release_and_reassign_update_the_case_in_place(subscriber, other_subscriber, staff_user):
    case = CaseFactory()
    updates_before, hot_before = case_updates_counted()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get(case=case, status=Claim.Status.ACTIVE)
    services.claim_reassign(actor=staff_user, claim=claim, to_user=other_subscriber, reason="test")
    services.claim_release(actor=other_subscriber, case_ids=[case.pk])
    updates, hot = case_updates_counted()
    assert (updates - updates_before, hot - hot_before) == (3, 3)


def test_the_cases_table_leaves_room_in_each_page_for_the_updated_row():
    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'cases_case'")
        assert cursor.fetchone()[0] == ["fillfactor=90"]
