"""GET /api/v3/cases and /api/v3/cases/<id>: masking, filters, refusals, query counts."""

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from cases.models import Case
from tests.factories import CaseFactory, ContactFactory, DocumentFactory, secrets_of

pytestmark = pytest.mark.django_db


def _assert_no_secrets(body: str, case) -> None:
    for secret in secrets_of(case):
        assert secret not in body, f"masked value {secret!r} leaked"


def test_list_masks_every_sensitive_value_for_a_non_owner(api_client, subscriber, make_case):
    cases = [make_case() for _ in range(3)]
    api_client.force_authenticate(subscriber)
    response = api_client.get("/api/v3/cases?page_size=50")
    assert response.status_code == 200
    body = response.content.decode()
    for case in cases:
        _assert_no_secrets(body, case)
    row = response.json()["results"][0]
    assert row["street"] is None and row["case_number"] is None and row["is_masked"] is True
    assert row["city"] == "Miami" and row["zip_code"] == "33101"  # visible parts stay visible


def test_detail_masks_contacts_and_revealing_document_titles_for_a_non_owner(api_client, subscriber, make_case):
    case = make_case()
    contact = case.contacts.get()
    DocumentFactory(case=case, title=f"Lis pendens against {contact.name}")
    api_client.force_authenticate(subscriber)
    response = api_client.get(f"/api/v3/cases/{case.pk}")
    assert response.status_code == 200
    _assert_no_secrets(response.content.decode(), case)
    data = response.json()
    assert data["contacts"] == []
    assert data["contact_summary"]["text"] == "1 contact, 2 phones, 1 e-mail on file"
    assert data["documents"][0]["title"] == "Notice of default"  # the kind, not the revealing title
    assert data["documents"][0]["locked"] is True


def test_owner_sees_everything(api_client, subscriber, make_case):
    case = make_case(assigned_to=subscriber, assigned_at=timezone.now())
    api_client.force_authenticate(subscriber)
    data = api_client.get(f"/api/v3/cases/{case.pk}").json()
    assert data["case_number"] == case.case_number
    assert data["street"] == case.street
    assert data["contacts"][0]["phones"] == case.contacts.get().phones
    assert data["is_mine"] is True and data["is_masked"] is False


def test_staff_see_everything(api_client, staff_user, make_case):
    case = make_case()
    api_client.force_authenticate(staff_user)
    body = api_client.get(f"/api/v3/cases/{case.pk}").content.decode()
    for secret in secrets_of(case):
        assert secret in body


def test_another_subscribers_case_stays_masked(api_client, subscriber, other_subscriber, make_case):
    case = make_case(assigned_to=other_subscriber, assigned_at=timezone.now())
    api_client.force_authenticate(subscriber)
    response = api_client.get(f"/api/v3/cases/{case.pk}")
    _assert_no_secrets(response.content.decode(), case)
    assert response.json()["is_claimed"] is True and response.json()["is_mine"] is False
    assert response.json()["is_claimable"] is False  # someone holds it, so this viewer cannot claim it


def test_is_claimable_answers_could_i_claim_it_now(api_client, subscriber, other_subscriber, make_case):
    free = make_case()
    held = make_case(assigned_to=other_subscriber, assigned_at=timezone.now())
    mine = make_case(assigned_to=subscriber, assigned_at=timezone.now())
    sold = make_case(stage=Case.Stage.SOLD)
    api_client.force_authenticate(subscriber)
    listed = {row["id"]: row["is_claimable"] for row in api_client.get("/api/v3/cases").json()["results"]}
    assert listed == {free.pk: True, held.pk: False, mine.pk: False, sold.pk: False}
    for case_id, expected in listed.items():  # the detail and the list agree
        assert api_client.get(f"/api/v3/cases/{case_id}").json()["is_claimable"] is expected


@pytest.mark.parametrize(
    "query",
    [
        "case_number=CN-1",
        "street__icontains=Main",
        "parcel_number=P",
        "search=Secretname",
        "q=x",
        "sort=case_number",
        "ordering=-street",
        "phone=305",
        "owner=Jane",
    ],
)
def test_filtering_or_sorting_by_a_masked_field_is_refused(api_client, subscriber, make_case, query):
    make_case()
    api_client.force_authenticate(subscriber)
    response = api_client.get(f"/api/v3/cases?{query}")
    assert response.status_code == 400
    assert response.json()["code"] == "masked_field"


def test_unknown_and_invalid_parameters_are_400_with_codes(api_client, subscriber):
    api_client.force_authenticate(subscriber)
    assert api_client.get("/api/v3/cases?colour=red").json()["code"] == "unknown_parameter"
    ordering = api_client.get("/api/v3/cases?ordering=bogus").json()  # DRF's name is not ours: say which is
    assert (ordering["code"], ordering["fields"]) == ("unknown_parameter", ["ordering"])
    assert "Sort with `sort`." in ordering["detail"]
    response = api_client.get("/api/v3/cases?score_min=90&score_max=10")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert api_client.get("/api/v3/cases?score_min=abc").status_code == 400
    assert api_client.get("/api/v3/cases?auction_from=not-a-date").status_code == 400


def test_filters_and_sorting_work(api_client, subscriber):
    CaseFactory(state="FL", score=90)
    CaseFactory(state="FL", score=40)
    CaseFactory(state="CA", score=95, stage="auction_scheduled", auction_date="2026-12-01")
    api_client.force_authenticate(subscriber)
    rows = api_client.get("/api/v3/cases?state=fl&score_min=50").json()["results"]
    assert [(r["state"], r["score"]) for r in rows] == [("FL", 90)]
    rows = api_client.get("/api/v3/cases?sort=score").json()["results"]
    assert [r["score"] for r in rows] == [40, 90, 95]
    rows = api_client.get("/api/v3/cases?stage=auction_scheduled&auction_from=2026-11-30&auction_to=2026-12-02").json()
    assert len(rows["results"]) == 1 and rows["next"] is None


def test_unknown_case_is_404_with_code(api_client, subscriber):
    api_client.force_authenticate(subscriber)
    response = api_client.get("/api/v3/cases/999999")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_anonymous_gets_401_with_the_token_challenge(api_client):
    response = api_client.get("/api/v3/cases")
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"] == "Token"


def test_a_session_still_authenticates_without_a_token(client, subscriber):
    client.force_login(subscriber)
    assert client.get("/api/v3/cases").status_code == 200


@pytest.mark.parametrize("page_size", [5, 50])
def test_list_runs_a_constant_number_of_queries(api_client, subscriber, django_assert_num_queries, page_size):
    for _ in range(60):
        ContactFactory(case=CaseFactory())
    token = Token.objects.create(user=subscriber)
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    # 1: the token with its user (joined); 2: the page of cases (one row more tells whether a next page exists).
    with django_assert_num_queries(2):
        response = api_client.get(f"/api/v3/cases?page_size={page_size}&state=FL&score_min=10")
    assert len(response.json()["results"]) == page_size


def test_detail_runs_a_constant_number_of_queries(api_client, subscriber, django_assert_num_queries):
    case = CaseFactory()
    for _ in range(4):
        ContactFactory(case=case)
        DocumentFactory(case=case)
    api_client.force_authenticate(subscriber)
    # 1: the case; 2: its contacts; 3: its documents.
    with django_assert_num_queries(3):
        assert api_client.get(f"/api/v3/cases/{case.pk}").status_code == 200


def test_list_pages_walk_with_next_and_previous(api_client, subscriber):
    for score in range(7):
        CaseFactory(score=score)
    api_client.force_authenticate(subscriber)
    first = api_client.get("/api/v3/cases?page_size=3&sort=score").json()
    assert [r["score"] for r in first["results"]] == [0, 1, 2] and first["previous"] is None
    second = api_client.get(first["next"]).json()
    assert [r["score"] for r in second["results"]] == [3, 4, 5]
    last = api_client.get(second["next"]).json()
    assert [r["score"] for r in last["results"]] == [6] and last["next"] is None
    assert api_client.get("/api/v3/cases?page_size=0").json()["code"] == "invalid"
    assert api_client.get("/api/v3/cases?page=abc").status_code == 400
    past = api_client.get("/api/v3/cases?page_size=3&sort=score&page=4")
    assert (past.status_code, past.json()["code"]) == (404, "not_found")
    assert api_client.get("/api/v3/cases?page=99999").status_code == 404
    nothing = api_client.get("/api/v3/cases?score_min=99")  # page 1 of no matches is an empty list, not a 404
    assert (nothing.status_code, nothing.json()["results"], nothing.json()["next"]) == (200, [], None)


def test_list_rows_match_the_published_schema(api_client, subscriber, make_case):
    from cases.api import CaseOutputSerializer

    make_case()
    api_client.force_authenticate(subscriber)
    row = api_client.get("/api/v3/cases").json()["results"][0]
    assert set(row) == set(CaseOutputSerializer().fields)
