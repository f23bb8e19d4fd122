"""The case list's cheaper pieces give what the general ones give: the PostgreSQL page statement the ORM query's
rows, the one-pass presenter `case_for_viewer`'s dicts, the remembered filter check parse_case_filters' verdict."""

import random
from datetime import date, timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from cases import selectors
from cases.filters import SORT_CHOICES, CaseFilters, check_case_filters, parse_case_filters
from cases.models import Case
from cases.presenters import case_for_viewer, cases_for_viewer
from claims.models import Claim
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

STATES = ["FL", "CA", "TX"]
COUNTIES = ["Miami-Dade", "Broward", "Harris"]


@pytest.fixture
def varied_cases(subscriber, other_subscriber):
    """60 cases with repeated scores and dates (ties), missing auction dates, every stage, some closed, some
    claimed."""
    rng = random.Random(5)
    today = date(2026, 6, 1)
    now = timezone.now()
    cases = []
    for i in range(60):
        owner = rng.choice([None, None, None, subscriber, other_subscriber])
        cases.append(
            CaseFactory.build(
                state=rng.choice(STATES),
                county=rng.choice(COUNTIES),
                stage=rng.choice(Case.Stage.values),
                score=rng.choice([10, 40, 55, 55, 70, 90]),
                auction_date=rng.choice([None, today, today + timedelta(days=rng.randint(1, 30))]),
                filing_date=today - timedelta(days=rng.choice([5, 5, 40, 300])),
                assigned_to=owner,
                assigned_at=now if owner else None,
                case_number=f"FP-{i}",
                status=Case.Status.CLOSED if i % 9 == 0 else Case.Status.OPEN,
            )
        )
    cases = Case.objects.bulk_create(cases)
    # As the claims services keep them: every owner holds an active claim on the case.
    Claim.objects.bulk_create(
        Claim(case=c, user=c.assigned_to, claimed_at=now, score_at_claim=c.score, daily_price_cents=500)
        for c in cases
        if c.assigned_to
    )
    return cases


FILTER_SETS = [
    CaseFilters(),
    CaseFilters(state="FL", score_min=40),
    CaseFilters(state="TX", score_min=55, score_max=70, sort="score"),
    CaseFilters(county="miami-DADE", sort="auction_date"),
    CaseFilters(stage=Case.Stage.AUCTION_SCHEDULED, sort="-auction_date"),
    CaseFilters(auction_from=date(2026, 6, 1), auction_to=date(2026, 6, 20), sort="-filing_date"),
    CaseFilters(claimed="unclaimed", state="CA"),
    CaseFilters(claimed="claimable"),
    CaseFilters(claimed="claimable", state="FL", sort="auction_date"),
    CaseFilters(claimed="claimed"),
    CaseFilters(claimed="mine", sort="score"),
    *(CaseFilters(sort=value) for value, _ in SORT_CHOICES),
]


@pytest.mark.parametrize("filters", FILTER_SETS, ids=repr)
def test_the_page_statement_returns_the_orm_querys_rows(varied_cases, subscriber, filters):
    expected = list(selectors.case_list_for(user=subscriber, filters=filters).values(*selectors.LIST_FIELDS))
    assert expected, "the fixture should match every filter set"
    pages = selectors.CaseListPages(user=subscriber, filters=filters)
    got = [row for start in range(0, len(expected) + 7, 7) for row in pages[start : start + 7]]
    assert got == expected


@pytest.mark.parametrize("who", ["owner", "other", "staff", "inactive", "anonymous"])
def test_the_one_pass_presenter_gives_case_for_viewers_dicts(varied_cases, subscriber, staff_user, who):
    from django.contrib.auth.models import AnonymousUser

    viewer = {
        "owner": subscriber,
        "other": UserFactory(email="third@example.com"),
        "staff": staff_user,
        "inactive": UserFactory(email="off@example.com", is_active=False),
        "anonymous": AnonymousUser(),
    }[who]
    rows = list(Case.objects.order_by("id").values(*selectors.LIST_FIELDS))
    bulk = cases_for_viewer(rows, viewer=viewer)
    single = [case_for_viewer(row, viewer=viewer) for row in rows]
    assert bulk == single
    assert [list(d) for d in bulk] == [list(d) for d in single]  # the same keys in the same order (JSON output)
    if who == "owner":
        assert any(not d["is_masked"] for d in bulk) and any(d["is_masked"] for d in bulk)


QUERIES = [
    "state=FL&score_min=60&page=2&page_size=50",
    "state=fl&score_min=60",
    "score_min=80&score_max=20",
    "street=x&state=FL",
    "sort=-case_number",
    "ordering=street",
    "colour=red",
    "auction_from=2026-13-01",
    "stage=nonsense&claimed=mine",
    "",
]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("staff", [False, True])
def test_the_remembered_filter_check_gives_the_forms_verdict(query, staff):
    params = QueryDict(query)
    parsed = parse_case_filters(params, sees_everything=staff)
    for _ in range(2):  # computed, then remembered
        checked = check_case_filters(params, sees_everything=staff)
        assert checked.filters == parsed.filters
        assert list(checked.refused) == parsed.refused and list(checked.unknown) == parsed.unknown
        assert checked.refused_detail == (parsed.form.non_field_errors()[0] if parsed.refused else "")
        assert checked.errors == (None if parsed.form.is_valid() else parsed.form.errors.get_json_data())
        assert checked.ok == (parsed.ok and not parsed.unknown)


def test_pagination_parameters_share_one_remembered_check():
    first = check_case_filters(QueryDict("state=FL&score_min=60&page=1"), sees_everything=False)
    fifth = check_case_filters(QueryDict("page=5&page_size=50&score_min=60&state=FL"), sees_everything=False)
    assert first is fifth
    assert check_case_filters(QueryDict("state=FL&score_min=60"), sees_everything=True) is not first


@pytest.mark.parametrize("cents", [None, 0, 1, 49, 50, 150, 250, 99_999, 12_345_650, 35_000_000, 150_000_000_050])
def test_the_list_pages_dollars_read_as_the_template_tags_did(cents):
    from django.template import Context, Template

    from cases.presenters import dollars

    old = Template(
        "{% load humanize %}{% if cents %}${% widthratio cents 100 1 as d %}{{ d|intcomma }}{% else %}—{% endif %}"
    )
    assert dollars(cents) == old.render(Context({"cents": cents}))


def test_the_html_list_links_each_row_to_its_case(client, subscriber):
    cases = CaseFactory.create_batch(3, estimated_value_cents=12_345_600)
    client.force_login(subscriber)
    body = client.get("/cases/").content.decode()
    for case in cases:
        assert f'<a href="/cases/{case.pk}/">' in body
    assert "$123,456" in body
