"""The subscriber's case pages: masking in HTML, filters, refusals, constant query counts."""

import pytest
from django.utils import timezone

from tests.factories import CaseFactory, ContactFactory, DocumentFactory, secrets_of

pytestmark = pytest.mark.django_db


def test_case_list_and_detail_mask_for_non_owner(client, subscriber, make_case):
    case = make_case()
    DocumentFactory(case=case, title=f"Notice to {case.contacts.get().name}")
    client.force_login(subscriber)
    for url in ("/cases/", f"/cases/{case.pk}/", "/dashboard/"):
        body = client.get(url).content.decode()
        for secret in secrets_of(case):
            assert secret not in body, (url, secret)
    detail = client.get(f"/cases/{case.pk}/").content.decode()
    assert "1 contact, 2 phones, 1 e-mail on file" in detail
    assert "Claim to unlock" in detail


def test_owner_sees_values_in_html(client, subscriber, make_case):
    case = make_case(assigned_to=subscriber, assigned_at=timezone.now())
    client.force_login(subscriber)
    body = client.get(f"/cases/{case.pk}/").content.decode()
    for secret in secrets_of(case):
        assert secret in body


def test_filter_by_masked_field_shows_an_error_not_results(client, subscriber, make_case):
    make_case()
    client.force_login(subscriber)
    response = client.get("/cases/?street=Secret")
    assert response.status_code == 400
    assert "only available to the case&#x27;s owner" in response.content.decode()


def test_filters_narrow_the_list(client, subscriber):
    CaseFactory(state="TX", county="Harris", city="Houston", score=88)
    CaseFactory(state="FL", county="Orange", city="Orlando", score=30)
    client.force_login(subscriber)
    body = client.get("/cases/?state=TX&score_min=50").content.decode()
    assert "Houston" in body and "Orlando" not in body
    assert "1 case found" in body


def test_unknown_case_is_404(client, subscriber):
    client.force_login(subscriber)
    assert client.get("/cases/424242/").status_code == 404


@pytest.mark.parametrize("n", [3, 30])
def test_case_list_page_query_count_is_constant(client, subscriber, django_assert_num_queries, n):
    for _ in range(n):
        ContactFactory(case=CaseFactory())
    client.force_login(subscriber)
    # 1: session; 2: user; 3: count; 4: page of cases; 5: the header's "My claims (N)" counter.
    with django_assert_num_queries(5):
        assert client.get("/cases/").status_code == 200


def test_a_filter_that_matches_nothing_says_so(client, subscriber):
    CaseFactory(state="FL")
    client.force_login(subscriber)

    for url in ("/cases/?claimed=mine", "/cases/?state=TX"):
        body = client.get(url).content.decode()
        assert "0 cases found" in body, url
        assert "No cases match these filters." in body, url
        assert "Page 1 of" not in body


@pytest.mark.parametrize(
    ("sort", "expected"), [("auction_date", ["soon", "later", "none"]), ("-auction_date", ["later", "soon", "none"])]
)
def test_the_auction_sort_puts_cases_without_an_auction_last(client, subscriber, sort, expected):
    today = timezone.localdate()
    cases = {
        "none": CaseFactory(auction_date=None, score=99),
        "later": CaseFactory(auction_date=today + timezone.timedelta(days=30), score=10),
        "soon": CaseFactory(auction_date=today + timezone.timedelta(days=3), score=50),
    }
    client.force_login(subscriber)

    body = client.get(f"/cases/?sort={sort}").content.decode()

    positions = {name: body.index(f'data-case-id="{case.pk}"') for name, case in cases.items()}
    assert sorted(positions, key=positions.get) == expected


def test_a_sold_case_does_not_invite_a_claim_that_cannot_happen(client, subscriber, make_case):
    case = make_case(stage="sold")
    DocumentFactory(case=case)
    client.force_login(subscriber)

    body = client.get(f"/cases/{case.pk}/").content.decode()

    assert "This case can no longer be claimed, so they stay hidden." in body
    assert "Claim to unlock" not in body and "Claim this case to unlock" not in body


def test_a_case_another_subscriber_holds_does_not_invite_a_claim_either(
    client, subscriber, other_subscriber, make_case
):
    case = make_case(assigned_to=other_subscriber, assigned_at=timezone.now())
    DocumentFactory(case=case)
    client.force_login(subscriber)

    body = client.get(f"/cases/{case.pk}/").content.decode()

    assert "Claimed by another subscriber" in body
    assert "Another subscriber holds this case, so they stay hidden." in body
    assert "Claim to unlock" not in body and "Claim this case to unlock" not in body


def test_the_owner_sees_contact_roles_in_words(client, subscriber):
    case = CaseFactory(assigned_to=subscriber, assigned_at=timezone.now())
    ContactFactory(case=case, relation="co_owner")
    client.force_login(subscriber)

    body = client.get(f"/cases/{case.pk}/").content.decode()

    assert "(Co-owner)" in body and "co_owner" not in body
