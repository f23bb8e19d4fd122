"""The claims changelist's search and owner filter: one indexed condition per kind of term (bench/admin.py)."""

import pytest

from claims.models import Claim
from tests.factories import CaseFactory, ClaimFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def claims(admin_client):
    ann = UserFactory(email="ann.smith@example.com")
    bob = UserFactory(email="bob@example.org")
    a = ClaimFactory(user=ann, case=CaseFactory(case_number="2026-CA-000777"))
    b = ClaimFactory(user=bob, case=CaseFactory(case_number="2025-CA-123456"))
    c = ClaimFactory(
        user=ann, case=CaseFactory(case_number="2024-XY-999999"), status="released", released_at=a.claimed_at
    )
    return {"a": a, "b": b, "c": c}


def shown(admin_client, query: str) -> set[int]:
    response = admin_client.get(f"/admin/claims/claim/{query}")
    assert response.status_code == 200, query
    return {claim.pk for claim in response.context["cl"].result_list}


def test_search_by_email_part_case_number_part_and_ids(admin_client, claims):
    a, b, c = claims["a"], claims["b"], claims["c"]
    assert shown(admin_client, "?q=smith%40") == {a.pk, c.pk}
    assert shown(admin_client, "?q=BOB%40EXAMPLE.ORG") == {b.pk}
    assert shown(admin_client, "?q=CA-000") == {a.pk}
    assert shown(admin_client, "?q=-CA-") == {a.pk, b.pk}
    assert shown(admin_client, f"?q={b.pk}") >= {b.pk}  # a claim id (or a case with that id)
    assert shown(admin_client, f"?q={c.case_id}") >= {c.pk}
    assert shown(admin_client, "?q=nobody%40nowhere") == set()


def test_owner_filter_is_a_text_box_that_keeps_the_other_filters(admin_client, claims):
    a = claims["a"]
    assert shown(admin_client, "?owner=ann.smith") == {a.pk, claims["c"].pk}
    assert shown(admin_client, "?owner=ann.smith&status__exact=active") == {a.pk}
    body = admin_client.get("/admin/claims/claim/?owner=ann&status__exact=active").content.decode()
    assert 'name="owner" value="ann"' in body
    assert '<input type="hidden" name="status__exact" value="active">' in body
    # No link per owner: the page does not list every user who ever held a claim.
    assert "bob@example.org" not in body.split('id="changelist-filter"')[1]


def test_linking_to_one_users_claims_still_works(admin_client, claims):
    ann = claims["a"].user
    assert shown(admin_client, f"?user__id__exact={ann.pk}") == set(
        Claim.objects.filter(user=ann).values_list("pk", flat=True)
    )
