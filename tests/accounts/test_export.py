"""GDPR export: the user's own data, complete, and nothing of anyone else's or of masked case fields."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import Invoice
from cases.models import DocumentAccess
from leads.models import PlzSubscription
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import run_on
from tests.factories import CaseFactory, ContactFactory, DocumentFactory, UserFactory, secrets_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    me, someone = UserFactory(email="me@example.com"), UserFactory(email="someone@example.com")
    mine, theirs = CaseFactory(), CaseFactory()
    ContactFactory(case=mine)
    ContactFactory(case=theirs)
    day = timezone.localdate() - timedelta(days=3)
    claimed_at = timezone.now() - timedelta(days=3)
    ClaimFactory(user=me, case=mine, claimed_at=claimed_at, daily_price_cents=1500)
    ClaimFactory(user=someone, case=theirs, claimed_at=claimed_at, daily_price_cents=999)
    run_on(day + timedelta(days=2))
    DocumentAccess.objects.create(
        user=me, document=DocumentFactory(case=mine), case=mine, action="download", result="allowed",
        reason="ok", ip="203.0.113.5", created_at=timezone.now(),
    )  # fmt: skip
    PlzSubscription.objects.create(user=me, plz="10115", status="active", source="manual")
    PlzSubscription.objects.create(user=someone, plz="80331", status="active", source="manual")
    return me, someone, mine, theirs


def test_export_holds_my_data_and_nothing_else(client, history):
    me, _someone, mine, theirs = history
    client.force_login(me)
    response = client.post("/me/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="jsn-data-')
    assert response["Cache-Control"] == "private, no-store"
    data = json.loads(response.content)
    assert data["profile"]["email"] == "me@example.com"
    assert [c["case"]["id"] for c in data["claims"]] == [mine.pk]
    assert data["claims"][0]["daily_price_cents"] == 1500
    mine_invoices = Invoice.objects.filter(user=me)
    assert {i["number"] for i in data["invoices"]} == set(mine_invoices.values_list("number", flat=True))
    assert sum(line["amount_cents"] for i in data["invoices"] for line in i["lines"]) == 3000
    assert data["document_accesses"][0]["ip"] == "203.0.113.5"
    assert [s["plz"] for s in data["plz_subscriptions"]] == ["10115"]
    body = response.content.decode()
    assert "someone@example.com" not in body and "80331" not in body
    for secret in secrets_of(mine) + secrets_of(theirs):  # masked case fields are third parties' data
        assert secret not in body


def test_api_export_and_rate_limit(api_client, history):
    me = history[0]
    api_client.force_authenticate(me)
    assert api_client.get("/api/v3/me/export").json()["profile"]["email"] == "me@example.com"
    from accounts import export

    for _ in range(export.EXPORTS_PER_HOUR - 1):
        api_client.get("/api/v3/me/export")
    response = api_client.get("/api/v3/me/export")
    assert response.status_code == 429 and response.json()["code"] == "rate_limited"
    assert int(response["Retry-After"]) > 0


def test_export_page_is_linked_and_needs_login(client, history):
    assert client.get("/me/export/").status_code == 302
    client.force_login(history[0])
    assert "My data" in client.get("/dashboard/").content.decode()
