"""S3: ordering, searching and filtering by masked fields are refused for non-owners — identically whether the
probe matches a stored value or not — and counts reveal nothing masked."""

import html
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories import CaseFactory, ContactFactory

pytestmark = pytest.mark.django_db

# (parameter, how to get the stored value from the case) — each one a masked field a probe could test.
PROBES = [
    ("case_number", lambda case: case.case_number),
    ("case_number__icontains", lambda case: case.case_number[:8]),
    ("street", lambda case: case.street),
    ("street__startswith", lambda case: case.street[:4]),
    ("parcel_number", lambda case: case.parcel_number),
    ("address", lambda case: case.street),
    ("owner", lambda case: case.contacts.get().name),
    ("name", lambda case: case.contacts.get().name),
    ("phone", lambda case: case.contacts.get().phones[0]),
    ("email", lambda case: case.contacts.get().emails[0]),
    ("search", lambda case: case.contacts.get().name),
    ("q", lambda case: case.street),
]
# Orderings by a masked field: refused outright (the order itself would be the oracle).
# A related path is not a sort choice at all: refused as invalid.
MASKED_ORDERINGS = [
    ("sort", "case_number", "masked_field"),
    ("ordering", "-street", "masked_field"),
    ("ordering", "phone", "masked_field"),
    ("sort", "contacts__name", "invalid"),
]


@pytest.fixture
def probe_world(subscriber, other_subscriber):
    owned = CaseFactory(assigned_to=subscriber, assigned_at=timezone.now(), score=80)
    ContactFactory(case=owned)
    unclaimed = CaseFactory(score=70)
    ContactFactory(case=unclaimed)
    client = Client()
    client.force_login(other_subscriber)
    return {"owned": owned, "unclaimed": unclaimed, "client": client}


def _normalised(body: bytes, *values: str) -> bytes:
    """The body with the probe replaced in every form a page may echo it (raw, escaped, URL-encoded)."""
    for value in values:
        for form in {value, html.escape(value), quote_plus(value), quote(value), json.dumps(value)[1:-1]}:
            body = body.replace(form.encode(), b"<probe>")
    return body


@pytest.mark.parametrize(("param", "stored"), PROBES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(PROBES)])
@pytest.mark.parametrize("target", ["owned", "unclaimed"])
def test_api_probe_is_refused_the_same_for_a_hit_and_a_miss(probe_world, param, stored, target):
    client = probe_world["client"]
    hit = stored(probe_world[target])
    miss = "ZZ-no-such-value-91"
    hit_response = client.get("/api/v3/cases", {param: hit})
    miss_response = client.get("/api/v3/cases", {param: miss})
    assert hit_response.status_code == miss_response.status_code == 400
    assert hit_response.json()["code"] == "masked_field"
    assert _normalised(hit_response.content, hit) == _normalised(miss_response.content, miss)


@pytest.mark.parametrize(("param", "stored"), PROBES, ids=[f"{p}-{i}" for i, (p, _) in enumerate(PROBES)])
def test_html_probe_is_refused_the_same_for_a_hit_and_a_miss(probe_world, param, stored):
    client = probe_world["client"]
    hit = stored(probe_world["unclaimed"])
    miss = "ZZ-no-such-value-91"
    hit_response = client.get("/cases/", {param: hit})
    miss_response = client.get("/cases/", {param: miss})
    assert hit_response.status_code == miss_response.status_code == 400
    hit_body = _normalised(hit_response.content, hit)
    miss_body = _normalised(miss_response.content, miss)
    # The CSRF token in the page differs per request; everything else must be identical.
    strip = rb'name="csrfmiddlewaretoken" value="[^"]+"|"X-CSRFToken": "[^"]+"'
    assert re.sub(strip, b"", hit_body) == re.sub(strip, b"", miss_body)


@pytest.mark.parametrize(("param", "value", "code"), MASKED_ORDERINGS)
def test_ordering_by_a_masked_field_is_refused(probe_world, param, value, code):
    client = probe_world["client"]
    api = client.get("/api/v3/cases", {param: value})
    assert api.status_code == 400 and api.json()["code"] == code
    assert client.get("/cases/", {param: value}).status_code == 400


def test_staff_may_search_masked_fields(staff_user, probe_world):
    client = Client()
    client.force_login(staff_user)
    response = client.get("/api/v3/cases", {"sort": "score"})
    assert response.status_code == 200


def test_counts_do_not_depend_on_masked_values(probe_world, other_subscriber):
    """The total a non-owner sees changes with public facts only, not with what is stored in masked fields."""
    client = probe_world["client"]
    before = client.get("/api/v3/cases", {"page_size": 100}).json()
    owned = probe_world["owned"]
    owned.street = "1 Entirely Different Road"
    owned.case_number = "CN-CHANGED-0001"
    owned.save()
    contact = owned.contacts.get()
    contact.phones = [*contact.phones, "+1-999-0000000", "+1-999-0000001"]
    contact.save()
    after = client.get("/api/v3/cases", {"page_size": 100}).json()
    assert before == after  # nothing a non-owner can see moved


def test_contact_summary_counts_only_what_product_allows(probe_world):
    """Non-owners see how many contacts/phones/e-mails exist (PRODUCT.md), never which."""
    client = probe_world["client"]
    data = client.get(f"/api/v3/cases/{probe_world['owned'].pk}").json()
    assert data["contacts"] == []
    assert data["contact_summary"]["text"] == "1 contact, 2 phones, 1 e-mail on file"
