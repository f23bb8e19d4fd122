"""Subscriber billing API and pages: own invoices only, frozen prices, previews; the staff trigger."""

from datetime import date, timedelta

import pytest
from pypdf import PdfReader

from billing.models import Invoice
from billing.pricing import DEFAULT_BANDS, bands_to_data
from billing.services import pricing_config_publish
from tests.billing.factories import ClaimFactory
from tests.billing.helpers import frozen, local, run_on
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

D = date(2026, 6, 10)


@pytest.fixture
def billed(subscriber, other_subscriber):
    """Two days billed for the subscriber (two claims) and one for the other subscriber."""
    ClaimFactory(user=subscriber, claimed_at=local(D, 9), daily_price_cents=1500, score_at_claim=85)
    ClaimFactory(user=subscriber, claimed_at=local(D + timedelta(days=1), 9), daily_price_cents=250)
    ClaimFactory(user=other_subscriber, claimed_at=local(D + timedelta(days=1), 9), daily_price_cents=999)
    run_on(D + timedelta(days=2))
    return subscriber


def test_invoice_list_shows_only_my_invoices(api_client, billed, other_subscriber):
    api_client.force_authenticate(billed)
    body = api_client.get("/api/v3/billing/invoices").json()
    assert body["count"] == 2
    assert [(i["invoice_date"], i["total_cents"], i["line_count"]) for i in body["results"]] == [
        ("2026-06-11", 1750, 2),
        ("2026-06-10", 1500, 1),
    ]
    theirs = Invoice.objects.get(user=other_subscriber)
    assert theirs.number not in str(body)


def test_invoice_list_query_count_does_not_grow_with_invoices(api_client, billed, django_assert_num_queries):
    api_client.force_authenticate(billed)
    with django_assert_num_queries(2):  # 1: COUNT for the pager, 2: the page with each invoice's line count
        api_client.get("/api/v3/billing/invoices")
    for i in range(3, 9):
        ClaimFactory(user=billed, claimed_at=local(D + timedelta(days=i), 9))
    run_on(D + timedelta(days=12))
    with django_assert_num_queries(2):  # the same two queries for 12 invoices (D … D+11)
        response = api_client.get("/api/v3/billing/invoices")
    assert response.json()["count"] == 12


def test_invoice_detail_shows_frozen_lines(api_client, billed, django_assert_num_queries):
    api_client.force_authenticate(billed)
    invoice = Invoice.objects.get(user=billed, invoice_date=D + timedelta(days=1))
    # 1: the invoice (owner-filtered), 2: its lines, 3: which of their cases the user still owns
    with django_assert_num_queries(3):
        body = api_client.get(f"/api/v3/billing/invoices/{invoice.pk}").json()
    assert body["total_cents"] == sum(line["amount_cents"] for line in body["lines"]) == 1750
    assert sorted(line["unit_amount_cents"] for line in body["lines"]) == [250, 1500]
    assert {line["service_date"] for line in body["lines"]} == {"2026-06-11"}


def test_someone_elses_invoice_is_404_like_a_missing_one(api_client, billed, other_subscriber):
    theirs = Invoice.objects.get(user=other_subscriber)
    api_client.force_authenticate(billed)
    response = api_client.get(f"/api/v3/billing/invoices/{theirs.pk}")
    missing = api_client.get("/api/v3/billing/invoices/999999")
    assert response.status_code == missing.status_code == 404
    assert response.json() == missing.json() == {"code": "not_found", "detail": "No such invoice."}


def test_anonymous_gets_401(api_client):
    for url in ("/api/v3/billing/invoices", "/api/v3/billing/summary", "/api/v3/billing/pricing"):
        assert api_client.get(url).status_code == 401


def test_summary_has_month_to_date_and_tomorrows_charge(api_client, billed):
    api_client.force_authenticate(billed)
    with frozen(local(D + timedelta(days=2), 10)):
        body = api_client.get("/api/v3/billing/summary").json()
    assert body["month_to_date"] == [{"currency": "usd", "cents": 3250}]
    assert body["tomorrow"] == "2026-06-13"
    assert body["tomorrow_claims"] == 2
    assert body["tomorrow_charge"] == [{"currency": "usd", "cents": 1750}]
    assert body["open_invoices"] == 2


def test_summary_for_a_user_with_billing_off_shows_no_charge(api_client):
    user = UserFactory(billing_active=False)
    ClaimFactory(user=user, claimed_at=local(D, 9))
    api_client.force_authenticate(user)
    body = api_client.get("/api/v3/billing/summary").json()
    assert body["billing_active"] is False and body["tomorrow_charge"] == []


def test_pricing_api_shows_the_active_bands(api_client, subscriber, staff_user):
    api_client.force_authenticate(subscriber)
    assert api_client.get("/api/v3/billing/pricing").json()["version"] is None
    pricing_config_publish(actor=staff_user, model="banded", currency="usd", bands=bands_to_data(DEFAULT_BANDS))
    body = api_client.get("/api/v3/billing/pricing").json()
    assert (body["version"], body["model"]) == (1, "banded")
    assert body["bands"] == [
        {"min_score": 80, "max_score": 100, "price_cents": 1500},
        {"min_score": 60, "max_score": 79, "price_cents": 1000},
        {"min_score": 40, "max_score": 59, "price_cents": 500},
        {"min_score": 0, "max_score": 39, "price_cents": 250},
    ]


def test_generate_daily_is_staff_only_and_bills_the_day(api_client, subscriber, staff_user):
    ClaimFactory(user=subscriber, claimed_at=local(D, 9))
    api_client.force_authenticate(subscriber)
    with frozen(local(D + timedelta(days=3), 10)):
        assert api_client.post("/api/v3/admin/billing/generate-daily", {"date": str(D)}).status_code == 403
        api_client.force_authenticate(staff_user)
        body = api_client.post("/api/v3/admin/billing/generate-daily", {"date": str(D)}, format="json").json()
        assert (body["invoices"], body["first_day"], body["last_day"]) == (1, str(D), str(D))
        again = api_client.post("/api/v3/admin/billing/generate-daily", {"date": str(D)}, format="json").json()
        assert again["invoices"] == 0
        today = api_client.post("/api/v3/admin/billing/generate-daily", {"date": str(D + timedelta(days=3))})
        assert today.status_code == 400 and today.json()["code"] == "day_not_ended"
    assert Invoice.objects.filter(user=subscriber).count() == 1


def test_generate_daily_refuses_a_misspelt_field_instead_of_billing_every_day(api_client, subscriber, staff_user):
    from billing.models import BillingRun

    ClaimFactory(user=subscriber, claimed_at=local(D, 9))
    api_client.force_authenticate(staff_user)
    with frozen(local(D + timedelta(days=3), 10)):
        refused = api_client.post("/api/v3/admin/billing/generate-daily", {"day": str(D)}, format="json")
    assert refused.status_code == 400
    assert (refused.json()["code"], refused.json()["fields"]) == ("unknown_field", ["day"])
    assert not BillingRun.objects.exists() and not Invoice.objects.exists()


def test_billing_page_lists_my_invoices_and_preview(client, billed, other_subscriber):
    client.force_login(billed)
    with frozen(local(D + timedelta(days=2), 10)):
        page = client.get("/billing/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "JSN-20260611" in html and "17.50 USD" in html and "32.50 USD" in html
    assert Invoice.objects.get(user=other_subscriber).number not in html
    assert 'href="/billing/"' in html  # the nav link


def test_invoice_page_and_pdf_for_the_owner_only(client, billed, other_subscriber):
    mine = Invoice.objects.get(user=billed, invoice_date=D + timedelta(days=1))
    theirs = Invoice.objects.get(user=other_subscriber)
    client.force_login(billed)
    page = client.get(f"/billing/invoices/{mine.pk}/")
    assert page.status_code == 200 and "17.50 USD" in page.content.decode()
    pdf = client.get(f"/billing/invoices/{mine.pk}/pdf")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    assert f'filename="{mine.number}.pdf"' in pdf["Content-Disposition"]
    import io

    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert mine.number in text and "17.50 USD" in text
    assert client.get(f"/billing/invoices/{theirs.pk}/").status_code == 404
    assert client.get(f"/billing/invoices/{theirs.pk}/pdf").status_code == 404


def test_case_number_on_an_invoice_shows_only_while_the_user_owns_the_case(api_client, client, billed):
    from django.utils import timezone

    invoice = Invoice.objects.get(user=billed, invoice_date=D)
    line = invoice.lines.get()
    case = line.case
    case.assigned_to, case.assigned_at = billed, timezone.now()
    case.save()
    api_client.force_authenticate(billed)
    owned = api_client.get(f"/api/v3/billing/invoices/{invoice.pk}").json()["lines"][0]
    assert owned["case_number"] == case.case_number and owned["case_label"] == case.case_number

    case.assigned_to, case.assigned_at = None, None  # the claim ended
    case.save()
    body = api_client.get(f"/api/v3/billing/invoices/{invoice.pk}").content.decode()
    assert case.case_number not in body and f"Case #{case.pk}" in body
    client.force_login(billed)
    assert case.case_number not in client.get(f"/billing/invoices/{invoice.pk}/").content.decode()
    pdf = client.get(f"/billing/invoices/{invoice.pk}/pdf")
    text = "".join(page.extract_text() for page in PdfReader(__import__("io").BytesIO(pdf.content)).pages)
    assert case.case_number not in text and f"Case #{case.pk}" in text
    assert case.case_number not in line.description  # what Stripe's hosted invoice shows


def test_the_billing_page_shows_today_so_far_by_the_daily_jobs_rules(client, subscriber, settings):
    """Today's invoice is made tomorrow; until then the page says what it holds: a case released today (past the
    grace) still counts, one released within the grace does not, a held one counts once."""
    from tests.billing.factories import released_claim

    settings.CLAIM_GRACE_MINUTES = 15
    ClaimFactory(user=subscriber, claimed_at=local(D, 8), daily_price_cents=1000)  # held
    released_claim(user=subscriber, claimed_at=local(D, 9), released_at=local(D, 10), daily_price_cents=500)
    released_claim(user=subscriber, claimed_at=local(D, 9), released_at=local(D, 9) + timedelta(minutes=5))
    yesterday = D - timedelta(days=1)
    released_claim(user=subscriber, claimed_at=local(yesterday, 8), released_at=local(yesterday, 9))  # not today
    client.force_login(subscriber)
    with frozen(local(D, 12)):
        html = client.get("/billing/").content.decode()
    today = html[html.index('id="today-so-far"') : html.index('id="tomorrow"')]
    assert "Today so far (2026-06-10), invoiced tomorrow" in today
    assert "15.00 USD" in today and "2 cases held today" in today
    tomorrow = html[html.index('id="tomorrow"') :]
    assert "10.00 USD" in tomorrow and "1 active claim" in tomorrow
