"""Every id on a page is unique, and a form error is shown once: a label whose `for` names another form's field
sends a click (and a screen reader) to the wrong input."""

import re
from collections import Counter

import pytest

from tests.backoffice import builders
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

ID = re.compile(r'\sid="([^"]+)"')
LABEL_FOR = re.compile(r'<label[^>]*\sfor="([^"]+)"')


def duplicate_ids(html: str) -> list[str]:
    """Ids used more than once, and labels whose `for` names no element: both send a click to the wrong place."""
    ids = Counter(ID.findall(html))
    return sorted(
        {name for name, n in ids.items() if n > 1} | {f"label for={t}" for t in LABEL_FOR.findall(html) if t not in ids}
    )


@pytest.fixture
def boss(client):
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True, is_staff=True))
    return client


@pytest.fixture
def world():
    from django.utils import timezone

    from claims import services

    owner = UserFactory(email="owner@example.com")
    case = CaseFactory()
    services.claim_cases(user=owner, case_ids=[case.pk])
    builders.invoice(owner, timezone.localdate(), 1500)  # this month: the billing room lists it
    return {"owner": owner, "case": case}


PAGES = ["/admin/", "/admin/claims/", "/admin/billing/", "/admin/accounts/user/", "/admin/cases/case/", "/cases/"]


@pytest.mark.parametrize("url", PAGES)
def test_staff_pages_have_unique_ids(boss, world, url):
    response = boss.get(url)
    assert response.status_code == 200
    assert duplicate_ids(response.content.decode()) == []


@pytest.mark.parametrize("url", ["/", "/cases/", "/claims/", "/billing/", "/leads/", "/accounts/email/"])
def test_subscriber_pages_have_unique_ids(client, world, url):
    client.force_login(world["owner"])
    response = client.get(url, follow=True)
    assert response.status_code == 200
    assert duplicate_ids(response.content.decode()) == []


def test_the_case_page_has_unique_ids(client, world):
    client.force_login(world["owner"])
    response = client.get(f"/cases/{world['case'].pk}/")
    assert response.status_code == 200 and duplicate_ids(response.content.decode()) == []


@pytest.mark.parametrize(
    ("url", "data", "message"),
    [
        ("/admin/claims/", {"op": "release", "reason": ""}, "Select at least one claim."),
        ("/admin/claims/", {"op": "release_all", "user": "nobody@example.com", "reason": "x"}, "No such user."),
        ("/admin/claims/", {"op": "claim_limit", "user": "nobody@example.com", "claim_limit": "5"}, "No such user."),
        ("/admin/billing/", {"op": "status", "to_status": "paid", "reason": "x"}, "Select at least one invoice."),
    ],
)
def test_a_form_error_is_shown_once_on_a_page_with_unique_ids(boss, world, url, data, message):
    response = boss.post(url, data)
    html = response.content.decode()
    assert response.status_code == 200 and html.count(message) == 1, html.count(message)
    assert duplicate_ids(html) == []
