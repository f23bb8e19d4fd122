"""The subscriber's dashboard: its "open cases to claim" are the cases the list's "Open to claim" filter shows, the
ones a claim would succeed on (open, not sold or withdrawn, nobody holds them)."""

import re

import pytest
from django.utils import timezone

from cases.models import Case
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def mixed(subscriber, other_subscriber):
    now = timezone.now()
    return {
        "free": CaseFactory(score=60, city="Freetown"),
        "free_too": CaseFactory(score=50, city="Alsofree"),
        "held": CaseFactory(score=95, city="Heldville", assigned_to=other_subscriber, assigned_at=now),
        "sold": CaseFactory(score=99, city="Soldburg", stage=Case.Stage.SOLD),
        "withdrawn": CaseFactory(score=98, city="Gonecity", stage=Case.Stage.WITHDRAWN),
        "closed": CaseFactory(score=97, city="Shutton", status=Case.Status.CLOSED),
    }


def test_open_to_claim_counts_only_what_can_be_claimed_and_the_list_agrees(client, subscriber, mixed):
    client.force_login(subscriber)
    page = client.get("/dashboard/").content.decode()
    card = re.search(r'href="/cases/\?claimed=claimable"><span class="num">(\d+)</span>', page)
    assert card and card.group(1) == "2"
    for city in ("Soldburg", "Gonecity", "Shutton", "Heldville"):  # none of them can be claimed
        assert city not in page
    assert "Freetown" in page and "Alsofree" in page
    listed = client.get("/cases/?claimed=claimable").content.decode()
    assert "2 cases found" in listed
    assert "Freetown" in listed and "Soldburg" not in listed and "Heldville" not in listed


def test_the_api_filter_gives_the_same_cases(api_client, subscriber, mixed):
    api_client.force_authenticate(subscriber)
    rows = api_client.get("/api/v3/cases?claimed=claimable").json()["results"]
    assert {r["id"] for r in rows} == {mixed["free"].pk, mixed["free_too"].pk}
    assert all(r["is_claimable"] for r in rows)


def test_a_new_subscriber_is_not_welcomed_back(client, subscriber):
    client.force_login(subscriber)
    page = client.get("/dashboard/").content.decode()
    assert "Welcome back" not in page and "Your dashboard" in page


def test_the_case_list_badges_say_whether_a_case_can_still_be_claimed(client, subscriber, mixed):
    client.force_login(subscriber)
    html = client.get("/cases/").content.decode()

    def badge(case) -> str:
        row = re.search(rf'<tr data-case-id="{case.pk}">(.*?)</tr>', html, re.DOTALL).group(1)
        return re.search(r'<span class="badge [a-z]+">([^<]+)</span>', row).group(1)

    assert [badge(mixed[k]) for k in ("free", "held", "sold", "withdrawn", "closed")] == [
        "Open to claim",
        "Claimed",
        "Not claimable",
        "Not claimable",
        "Not claimable",
    ]
    for key in ("sold", "withdrawn", "closed"):  # and nothing to tick for them
        assert f'name="case_ids" value="{mixed[key].pk}"' not in html
