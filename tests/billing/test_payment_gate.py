"""The 402 payment gate on new claims (no card with Stripe on; a failed invoice past the grace days), and the card
pages on /billing/ (Stripe Checkout in setup mode, the Billing Portal) against FakeStripe."""

from datetime import timedelta

import pytest

from billing import stripe_gateway
from billing.models import Invoice
from billing.services import billing_today
from claims.models import Claim
from tests.factories import CaseFactory

pytestmark = pytest.mark.django_db
# The claims tests run through both claim paths (PostgreSQL's one-round-trip function and the ORM path).
both_claim_paths = pytest.mark.usefixtures("claim_path")


@pytest.fixture
def api(api_client, subscriber):
    api_client.force_authenticate(subscriber)
    return api_client


def add_card(fake_stripe, user) -> None:
    customer = stripe_gateway.customer_ensure(user=user)
    pm = fake_stripe.payment_method_create(customer=customer.id)
    stripe_gateway.customer_default_payment_method_set(customer_id=customer.id, payment_method_id=pm["id"])


def failed_invoice(user, *, due_days_ago: int) -> Invoice:
    due = billing_today() - timedelta(days=due_days_ago)
    return Invoice.objects.create(
        user=user,
        invoice_date=due - timedelta(days=1),
        number=f"JSN-FAILED-{due_days_ago}",
        currency="usd",
        subtotal_cents=1500,
        total_cents=1500,
        status=Invoice.Status.FAILED,
        due_date=due,
    )


@both_claim_paths
def test_no_card_with_stripe_on_answers_402_payment_method_required(fake_stripe, api, subscriber):
    case = CaseFactory()

    response = api.post(f"/api/v3/cases/{case.pk}/claim")

    assert response.status_code == 402
    body = response.json()
    assert body["code"] == "payment_method_required"
    assert body["fix_url"] == "/billing/"
    assert "card" in body["detail"]
    assert not Claim.objects.exists()


@both_claim_paths
def test_bulk_claim_is_refused_as_a_whole_with_402(fake_stripe, api):
    cases = [CaseFactory() for _ in range(3)]

    response = api.post("/api/v3/cases/claim", {"case_ids": [c.pk for c in cases]}, format="json")

    assert response.status_code == 402
    assert response.json()["code"] == "payment_method_required"
    assert not Claim.objects.exists()


@both_claim_paths
def test_with_a_card_the_claim_goes_through(fake_stripe, api, subscriber):
    add_card(fake_stripe, subscriber)
    case = CaseFactory()

    assert api.post(f"/api/v3/cases/{case.pk}/claim").status_code == 201


@both_claim_paths
def test_without_stripe_no_card_is_needed(settings, api):
    settings.STRIPE_ENABLED = False
    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201


@both_claim_paths
def test_failed_invoice_past_the_grace_days_answers_402_payment_past_due(settings, api, subscriber):
    settings.STRIPE_ENABLED = False  # past due applies with or without Stripe
    settings.PAYMENT_GRACE_DAYS = 3
    failed_invoice(subscriber, due_days_ago=3)  # within grace: still allowed
    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201

    invoice = failed_invoice(subscriber, due_days_ago=4)
    response = api.post(f"/api/v3/cases/{CaseFactory().pk}/claim")

    assert response.status_code == 402
    body = response.json()
    assert (body["code"], body["fix_url"]) == ("payment_past_due", "/billing/")
    assert invoice.number in body["detail"]


@both_claim_paths
def test_paying_the_invoice_lifts_the_gate(settings, api, subscriber):
    settings.STRIPE_ENABLED = False
    invoice = failed_invoice(subscriber, due_days_ago=10)
    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 402

    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.PAID)

    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201


@both_claim_paths
def test_billing_off_for_the_account_is_never_gated(fake_stripe, api, subscriber):
    subscriber.billing_active = False
    subscriber.save(update_fields=["billing_active"])
    failed_invoice(subscriber, due_days_ago=10)

    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 201


@both_claim_paths
@pytest.mark.parametrize("reason", ["no_card", "past_due"])
def test_held_claims_keep_working_and_release_still_works(fake_stripe, api, subscriber, reason):
    add_card(fake_stripe, subscriber)
    case = CaseFactory()
    assert api.post(f"/api/v3/cases/{case.pk}/claim").status_code == 201
    if reason == "no_card":
        customer = stripe_gateway.customer_for(user=subscriber)
        type(customer).objects.filter(pk=customer.pk).update(default_payment_method=None)
    else:
        failed_invoice(subscriber, due_days_ago=10)
    assert api.post(f"/api/v3/cases/{CaseFactory().pk}/claim").status_code == 402

    detail = api.get(f"/api/v3/cases/{case.pk}")
    assert detail.status_code == 200 and detail.json()["street"] == case.street  # still the owner's view
    released = api.post(f"/api/v3/cases/{case.pk}/release")
    assert released.status_code == 200 and released.json()["outcome"] == "released"
    assert api.post("/api/v3/cases/release", {"case_ids": [case.pk]}, format="json").status_code == 200


@both_claim_paths
def test_the_claim_form_shows_the_banner_with_a_link_to_billing(fake_stripe, client, subscriber):
    client.force_login(subscriber)
    case = CaseFactory()

    response = client.post("/claims/claim/", {"case_ids": [case.pk]}, HTTP_HX_REQUEST="true")

    html = response.content.decode()
    assert 'id="payment-gate"' in html and 'href="/billing/"' in html
    assert not Claim.objects.exists()


# --- the billing page: banner and card buttons ---------------------------------------------------------------------
def test_billing_page_shows_the_gate_and_the_card_buttons(fake_stripe, client, subscriber):
    client.force_login(subscriber)

    html = client.get("/billing/").content.decode()

    assert 'id="payment-gate"' in html and 'data-code="payment_method_required"' in html
    assert "Add / change card" in html and "Manage billing" in html
    assert "No card on file" in html


def test_billing_page_with_a_card_has_no_banner(fake_stripe, client, subscriber):
    add_card(fake_stripe, subscriber)
    client.force_login(subscriber)

    html = client.get("/billing/").content.decode()

    assert 'id="payment-gate"' not in html
    assert "A card is on file" in html


def test_without_stripe_keys_the_page_says_not_connected_and_has_no_buttons(settings, client, subscriber):
    settings.STRIPE_ENABLED = False
    settings.STRIPE_TEST_SECRET_KEY = ""
    client.force_login(subscriber)

    response = client.get("/billing/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Stripe is not connected" in html
    assert "Add / change card" not in html and "Manage billing" not in html
    assert 'id="payment-gate"' not in html
    # A stale form post does not crash either.
    posted = client.post("/billing/card/", follow=True)
    assert posted.status_code == 200 and "Stripe is not connected" in posted.content.decode()


def test_add_card_redirects_to_checkout_in_setup_mode(fake_stripe, client, subscriber):
    client.force_login(subscriber)

    response = client.post("/billing/card/")

    assert response.status_code == 302
    assert response["Location"].startswith("https://checkout.stripe.com/")
    (sent,) = fake_stripe.requests("POST", "/v1/checkout/sessions")
    assert sent.params["mode"] == "setup"
    assert sent.params["customer"] == stripe_gateway.customer_for(user=subscriber).id
    assert sent.params["success_url"] == "http://testserver/billing/?card=added"
    assert sent.params["cancel_url"] == "http://testserver/billing/"
    assert not stripe_gateway.customer_has_payment_method(user=subscriber)  # only the webhook sets it


def test_manage_billing_redirects_to_the_portal(fake_stripe, client, subscriber):
    client.force_login(subscriber)

    response = client.post("/billing/portal/")

    assert response.status_code == 302
    assert response["Location"].startswith("https://billing.stripe.com/")
    (sent,) = fake_stripe.requests("POST", "/v1/billing_portal/sessions")
    assert sent.params["return_url"] == "http://testserver/billing/"


def test_stripe_down_on_add_card_is_a_message_not_a_crash(fake_stripe, client, subscriber):
    client.force_login(subscriber)
    fake_stripe.inject("server_error", "POST", "/v1/checkout/sessions", times=None)

    response = client.post("/billing/card/", follow=True)

    assert response.status_code == 200
    assert "Stripe did not answer" in response.content.decode()


def test_card_pages_need_post(fake_stripe, client, subscriber):
    client.force_login(subscriber)
    assert client.get("/billing/card/").status_code == 405
    assert client.get("/billing/portal/").status_code == 405
    assert fake_stripe.log == []


def test_the_gate_adds_no_statement_to_the_claim_path(fake_stripe, subscriber, claim_path):
    """The claim path's budget is six statements; the gate's facts ride on the user lock (statement 1 on the ORM
    path; inside the claim function, which reads them under the user lock, on PostgreSQL's one-round-trip path)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from claims import services

    add_card(fake_stripe, subscriber)
    case = CaseFactory()
    with CaptureQueriesContext(connection) as ctx:
        result = services.claim_cases(user=subscriber, case_ids=[case.pk])
    assert result.outcomes[0].outcome == "claimed"
    control = ("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE")
    statements = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(control)]
    if claim_path == "sql":
        # One round trip; the 402 tests above show the gate holds on this path.
        assert len(statements) == 1, [s[:80] for s in statements]
        assert "claims_claim_case(" in statements[0] and f"({subscriber.pk}, {case.pk}, " in statements[0]
        return
    assert len(statements) <= 6, [s[:80] for s in statements]
    assert "djstripe_customer" in statements[0] and "billing_invoice" in statements[0]
