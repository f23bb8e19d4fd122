"""Back office: invoice actions with a reason (audited), read-only lines, CSV export, pricing versions."""

import csv
import io
from datetime import date, timedelta

import pytest

from billing.models import Invoice, InvoiceEvent, PricingConfig
from jsn.lib.csv import csv_safe
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import local, run_on
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

D = date(2026, 6, 10)
CHANGELIST = "/admin/billing/invoice/"


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True))
    return client


@pytest.fixture
def invoices():
    for _ in range(2):
        ClaimFactory(claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=1))
    return list(Invoice.objects.order_by("pk"))


def test_mark_paid_asks_for_a_reason_then_audits(admin_client, invoices):
    ids = [str(i.pk) for i in invoices]
    form = admin_client.post(CHANGELIST, {"action": "mark_paid", "_selected_action": ids})
    assert form.status_code == 200 and b"give a reason" in form.content
    assert Invoice.objects.filter(status="paid").count() == 0
    empty = admin_client.post(CHANGELIST, {"action": "mark_paid", "_selected_action": ids, "apply": "1", "reason": ""})
    assert empty.status_code == 200 and Invoice.objects.filter(status="paid").count() == 0
    done = admin_client.post(
        CHANGELIST, {"action": "mark_paid", "_selected_action": ids, "apply": "1", "reason": "wire received"}
    )
    assert done.status_code == 302
    assert Invoice.objects.filter(status="paid").count() == 2
    assert set(InvoiceEvent.objects.values_list("to_status", "reason", "actor__email")) == {
        ("paid", "wire received", "boss@example.com")
    }
    # Paid cannot be voided: refused, reported, nothing changes.
    admin_client.post(CHANGELIST, {"action": "mark_void", "_selected_action": ids, "apply": "1", "reason": "x"})
    assert Invoice.objects.filter(status="paid").count() == 2


def test_a_status_change_on_more_than_a_page_of_invoices_is_refused_whole(admin_client, invoices, monkeypatch):
    monkeypatch.setattr("billing.admin.MAX_STATUS_CHANGES", 1)
    ids = [str(i.pk) for i in invoices]

    # "Select all" across pages: refused before the confirmation page would list every invoice.
    asked = admin_client.post(
        CHANGELIST, {"action": "mark_paid", "select_across": "1", "_selected_action": ids[:1]}, follow=True
    )
    applied = admin_client.post(
        CHANGELIST, {"action": "mark_paid", "_selected_action": ids, "apply": "1", "reason": "wire"}, follow=True
    )

    assert asked.redirect_chain and "nothing was changed" in asked.content.decode()
    assert applied.redirect_chain and "nothing was changed" in applied.content.decode()
    assert Invoice.objects.filter(status="paid").count() == 0 and not InvoiceEvent.objects.exists()


def test_select_all_confirms_and_applies_to_every_invoice_listed(admin_client, invoices):
    asked = admin_client.post(
        CHANGELIST, {"action": "mark_paid", "select_across": "1", "_selected_action": [invoices[0].pk]}
    )
    html = asked.content.decode()
    for invoice in invoices:
        assert invoice.number in html
        assert f'name="_selected_action" value="{invoice.pk}"' in html  # sent back with the reason, not just one

    admin_client.post(
        CHANGELIST,
        {"action": "mark_paid", "_selected_action": [i.pk for i in invoices], "apply": "1", "reason": "wire"},
    )
    assert Invoice.objects.filter(status="paid").count() == len(invoices) == 2


def test_a_batch_stops_starting_invoices_before_the_web_worker_would_time_out(admin_client, invoices, settings):
    settings.WEB_TIMEOUT_SECONDS = settings.STRIPE_CALL_MAX_SECONDS + 5  # no time left after the first invoice
    ids = [i.pk for i in invoices]

    page = admin_client.post(
        CHANGELIST, {"action": "mark_paid", "_selected_action": ids, "apply": "1", "reason": "wire"}, follow=True
    )

    (left,) = Invoice.objects.exclude(status="paid")
    assert Invoice.objects.filter(status="paid").count() == 1
    assert [str(m) for m in page.context["messages"]] == [
        "Mark paid: 1 invoice(s).",
        f"Stopped (the time for one request ran out): 1 invoice(s) not attempted, unchanged — {left.number}. "
        "Select them again.",
    ]
    assert left.status == "open" and not InvoiceEvent.objects.filter(invoice=left).exists()


def test_invoice_change_page_shows_lines_read_only(admin_client, invoices):
    page = admin_client.get(f"{CHANGELIST}{invoices[0].pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Exclusive access to case" in html
    assert 'name="lines-0-amount_cents"' not in html  # not an input: read-only


def test_csv_export_is_streamed_and_neutralises_formulas(admin_client):
    case = CaseFactory(case_number='=HYPERLINK("http://evil")')
    ClaimFactory(case=case, claimed_at=local(D, 9), daily_price_cents=1500)
    run_on(D + timedelta(days=1))
    ids = [str(pk) for pk in Invoice.objects.values_list("pk", flat=True)]
    response = admin_client.post(CHANGELIST, {"action": "export_csv", "_selected_action": ids})
    assert response.status_code == 200 and response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][0] == "invoice_number"
    assert rows[1][7] == '\'=HYPERLINK("http://evil")'
    assert rows[1][11] == "1500"
    assert [csv_safe(v) for v in ("+1", "-x", "@a", "ok", -5)] == ["'+1", "'-x", "'@a", "ok", -5]


def test_pricing_admin_publishes_versions_and_refuses_gaps(admin_client):
    add = "/admin/billing/pricingconfig/add/"
    assert admin_client.get(add).status_code == 200
    data = {
        "model": "banded",
        "currency": "usd",
        "flat_price_cents": 0,
        "bands": '[{"min_score": 0, "max_score": 59, "price_cents": 500}, '
        '{"min_score": 60, "max_score": 100, "price_cents": 1500}]',
        "cents_per_point": 0,
        "floor_cents": 0,
        "note": "two bands",
    }
    assert admin_client.post(add, data).status_code == 302
    data["bands"] = '[{"min_score": 0, "max_score": 50, "price_cents": 500}]'
    refused = admin_client.post(add, data)
    assert refused.status_code == 200 and "No band covers scores 51–100" in refused.content.decode()
    data.update(model="flat", flat_price_cents=800, bands="[]")
    assert admin_client.post(add, data).status_code == 302
    assert list(PricingConfig.objects.order_by("version").values_list("version", "is_active", "model")) == [
        (1, False, "banded"),
        (2, True, "flat"),
    ]
    # An existing version cannot be edited in place.
    v1 = PricingConfig.objects.get(version=1)
    admin_client.post(f"/admin/billing/pricingconfig/{v1.pk}/change/", {**data, "note": "edited"})
    assert PricingConfig.objects.get(version=1).note == "two bands"


def test_pricing_admin_refuses_a_currency_switch_as_a_form_error(admin_client):
    add = "/admin/billing/pricingconfig/add/"
    data = {"model": "flat", "currency": "usd", "flat_price_cents": 500, "bands": "[]", "cents_per_point": 0}
    assert admin_client.post(add, {**data, "floor_cents": 0}).status_code == 302
    ClaimFactory(currency="usd")

    refused = admin_client.post(add, {**data, "floor_cents": 0, "currency": "eur"})

    assert refused.status_code == 200
    assert "still have days to bill" in refused.content.decode()
    assert list(PricingConfig.objects.values_list("currency", "is_active")) == [("usd", True)]
