"""S8: schemathesis against the published OpenAPI schema (`/api/schema/`), as three identities.

Every operation is called with generated valid and invalid input by a subscriber who owns claims, invoices and
PLZ deliveries, by a second subscriber who owns another claim, and by staff; every answer must be documented
(status code, content type, body schema, headers) and none may be a 5xx. Path ids are drawn both freely and from the
ids that exist, so each identity meets real objects, its own and others'.

Bounded for `make test` (S8_MAX_EXAMPLES per operation, identity and generation mode; derandomized, so a failure
reproduces). A longer hunt: `S8_MAX_EXAMPLES=200 S8_RANDOM=1 pytest tests/security/test_s8_schemathesis.py -s`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta

import hypothesis
import pytest
import schemathesis
import time_machine
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis import GenerationMode
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from accounts.export import EXPORTS_PER_HOUR
from billing.models import Invoice
from billing.services import billing_run
from claims.services import claim_cases
from leads.models import Delivery, PlzSubscription
from tests.factories import CaseFactory, ContactFactory, DocumentFactory, UserFactory
from tests.leads.helpers import ready_leads

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = int(os.environ.get("S8_MAX_EXAMPLES", "10"))
RANDOM = os.environ.get("S8_RANDOM", "") == "1"

# Conformance to the published schema, and no server errors. (schemathesis' other checks judge API design, such as
# "any schema-valid input is accepted", which a 409 for an already claimed case rightly is not.)
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.response_headers_conformance,
]


@dataclass
class Tally:
    operations: set[str] = field(default_factory=set)
    examples: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def wsgi_app() -> Iterator:
    """Django's WSGI app, called in-process inside the test's transaction.

    As in Django's test client, the request signals must not close the connection: it holds the test transaction.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def world(settings, tmp_path) -> dict:
    """Two subscribers with claims (the first also with documents, invoices and a PLZ delivery) and staff."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    owner = UserFactory(email="owner@example.com")
    other = UserFactory(email="other@example.com")
    staff = UserFactory(email="staff@example.com", role="staff")
    cases = [CaseFactory(score=40 + i) for i in range(8)]
    for case in cases:
        ContactFactory(case=case)
    documents = [DocumentFactory(case=case) for case in cases[:4]]
    with time_machine.travel(timezone.now() - timedelta(days=3)):  # claimed days ago, so there are invoices
        claim_cases(user=owner, case_ids=[c.pk for c in cases[:3]])
        claim_cases(user=other, case_ids=[cases[3].pk])
    billing_run()
    assert Invoice.objects.filter(user=owner).exists()
    PlzSubscription.objects.create(user=owner, plz="10115", status=PlzSubscription.Status.ACTIVE)
    (lead,) = ready_leads("10115", 1)
    Delivery.objects.create(
        lead=lead, subscriber=owner, position=Delivery.Position.FIRST, due_at=timezone.now(), status="sent"
    )
    ids = {
        "case_id": [c.pk for c in cases],
        "document_id": [d.pk for d in documents],
        "invoice_id": list(Invoice.objects.values_list("pk", flat=True)),
    }
    return {"owner": owner, "other": other, "staff": staff, "ids": ids}


def _strategy(operation, ids: dict[str, list[int]]):
    """Free generation, valid and invalid, plus valid generation with path ids that exist."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = [p.name for p in operation.path_parameters]
    if names and all(ids.get(n) for n in names):
        existing = st.fixed_dictionaries({n: st.sampled_from(ids[n]) for n in names})
        strategies.append(
            existing.flatmap(lambda values: operation.as_strategy(GenerationMode.POSITIVE, path_parameters=values))
        )
    return st.one_of(strategies)


def _probe(operation, *, headers: dict[str, str], ids: dict[str, list[int]], tally: Tally, who: str):
    @hypothesis.given(case=_strategy(operation, ids))
    @hypothesis.settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every distinct failure is collected below
        suppress_health_check=list(HealthCheck),
    )
    def probe(case) -> None:
        tally.examples += 1
        response = case.call(headers=headers)
        tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        try:
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                key = f"{who} {operation.label} {response.status_code} {failure.title}"
                tally.failures.setdefault(key, f"{case.as_curl_command()}\n{failure.message}")

    return probe


def test_s8_every_operation_conforms_for_owner_other_subscriber_and_staff(world, wsgi_app):
    schema = schemathesis.openapi.from_wsgi("/api/schema/", wsgi_app)
    tally = Tally()
    for who in ("owner", "other", "staff"):
        headers = {"Authorization": f"Token {Token.objects.create(user=world[who]).key}"}
        for result in schema.get_all_operations():
            operation = result.ok()  # raises if the published schema cannot be read
            tally.operations.add(operation.label)
            _probe(operation, headers=headers, ids=world["ids"], tally=tally, who=who)()
    print(
        f"\nS8: {len(tally.operations)} operations × 3 identities, {tally.examples} examples, "
        f"statuses {dict(sorted(tally.statuses.items()))}, {len(tally.failures)} failures"
    )
    report = "\n\n".join(f"{key}\n{detail}" for key, detail in sorted(tally.failures.items()))
    assert not tally.failures, report
    assert not [s for s in tally.statuses if s >= 500]
    assert len(tally.operations) >= 17
    assert {200, 201, 400, 403, 404, 409} <= set(tally.statuses)  # real objects were met, not only 404s


# Regression tests for what the first S8 runs found.


def test_unknown_api_path_answers_json_404_and_pages_keep_the_html_404(api_client, subscriber):
    """/api/v3/cases/null/claim matched no URL and got Django's HTML page, which no API client can parse."""
    api_client.force_authenticate(subscriber)
    response = api_client.post("/api/v3/cases/null/claim")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["code"] == "not_found"
    page = api_client.get("/cases/no-such-page/")
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")


@pytest.fixture
def published(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_claims_list_is_documented_as_the_page_object_it_returns(published, api_client, subscriber):
    """The schema said a bare array; the API answers {count, next, previous, results}."""
    ok = published["paths"]["/api/v3/claims"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    page = published["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    api_client.force_authenticate(subscriber)
    assert set(api_client.get("/api/v3/claims").json()) == {"count", "next", "previous", "results"}


def test_every_operation_documents_the_errors_it_can_answer(published):
    """401 (no or bad credentials) and 403 (not permitted, CSRF) everywhere, 404 for path ids and page numbers,
    400 for input, 429 where limited."""
    operations = {
        (method.upper(), path): op for path, item in published["paths"].items() for method, op in item.items()
    }
    for (method, path), op in operations.items():
        codes = set(op["responses"])
        assert {"401", "403"} <= codes, (method, path)
        if "{" in path or any(p["in"] == "query" and p["name"] == "page" for p in op.get("parameters", [])):
            assert "404" in codes, (method, path)  # no such object; a page past the end
        if op.get("requestBody") or any(p["in"] == "query" for p in op.get("parameters", [])):
            assert "400" in codes, (method, path)
    for key in [
        ("POST", "/api/v3/cases/claim"),
        ("POST", "/api/v3/cases/release"),
        ("POST", "/api/v3/cases/{case_id}/claim"),
        ("POST", "/api/v3/cases/{case_id}/release"),
        ("POST", "/api/v3/documents/{document_id}/link"),
        ("GET", "/api/v3/me/export"),
    ]:
        assert "429" in operations[key]["responses"], key
    for key in [("GET", "/api/v3/claims"), ("GET", "/api/v3/billing/invoices")]:
        assert "404" in operations[key]["responses"], key  # a page past the end


def test_401_is_documented_with_its_challenge_and_answered_with_it(published, client):
    for path, item in published["paths"].items():
        for method, op in item.items():
            header = op["responses"]["401"]["headers"]["WWW-Authenticate"]
            assert header["schema"]["enum"] == ["Token"], (method, path)
    response = client.get("/api/v3/claims")  # anonymous: what the schema says
    assert (response.status_code, response["WWW-Authenticate"], response.json()["code"]) == (
        401,
        "Token",
        "not_authenticated",
    )


def test_choice_filters_publish_their_values(published):
    parameters = {p["name"]: p for p in published["paths"]["/api/v3/cases"]["get"]["parameters"]}
    assert "claimable" in parameters["claimed"]["schema"]["enum"]
    assert set(parameters["stage"]["schema"]["enum"]) >= {"sold", "withdrawn", "auction_scheduled"}
    claims = {p["name"]: p for p in published["paths"]["/api/v3/claims"]["get"]["parameters"]}
    assert "active" in claims["status"]["schema"]["enum"]


def test_page_past_the_end_and_rate_limited_export_answer_what_the_schema_says(api_client, subscriber):
    api_client.force_authenticate(subscriber)
    assert api_client.get("/api/v3/billing/invoices?page=9").json()["code"] == "not_found"
    for _ in range(EXPORTS_PER_HOUR):
        assert api_client.get("/api/v3/me/export").status_code == 200
    limited = api_client.get("/api/v3/me/export")
    assert limited.status_code == 429 and limited.json()["code"] == "rate_limited"
