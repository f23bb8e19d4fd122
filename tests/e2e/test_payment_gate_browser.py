"""A subscriber without a card tries to claim, sees the 402 banner, saves a card through (faked) Stripe Checkout,
and claims. FakeStripe answers through `responses`, which also sees the live_server thread's calls (one process);
Checkout's hosted page is stubbed in the browser, and its completion arrives as a signed webhook."""

import io
import os

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from djstripe.models import WebhookEndpoint

from billing import stripe_gateway
from claims.models import Claim
from tests.factories import CaseFactory, UserFactory
from tests.stripe.test_webhooks import deliver_event

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

FAKE_CHECKOUT = "<!doctype html><title>Stripe Checkout (fake)</title><h1>Stripe Checkout (fake)</h1>"


def test_no_card_402_banner_then_checkout_setup_then_claim(live_server, page, login, shot, fake_stripe):
    call_command("stripe_webhook_endpoint_create", "https://jsn.example", stdout=io.StringIO())
    endpoint = WebhookEndpoint.objects.get()
    user = UserFactory(email="nocard@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    case = CaseFactory(score=85, county="Broward", city="Fort Lauderdale")
    page.route(
        "https://checkout.stripe.com/**", lambda route: route.fulfill(body=FAKE_CHECKOUT, content_type="text/html")
    )

    login(page, user.email)
    page.goto(f"{live_server.url}/cases/")
    page.check(f'input[name=case_ids][value="{case.pk}"]')
    page.click("text=Claim selected")
    banner = page.locator("#claim-results #payment-gate")
    banner.wait_for()
    assert "Add a card" in banner.inner_text()
    assert not Claim.objects.exists()
    shot(page, "gate-1-claim-refused-402")

    banner.get_by_text("Go to Billing").click()
    page.wait_for_url(f"{live_server.url}/billing/")
    assert page.locator('#payment-gate[data-code="payment_method_required"]').is_visible()
    shot(page, "gate-2-billing-banner")

    page.get_by_role("button", name="Add / change card").click()
    page.wait_for_url("https://checkout.stripe.com/**")
    (session,) = fake_stripe.of_type("checkout.session")
    assert page.url.endswith(session["id"])
    shot(page, "gate-3-fake-checkout")

    # The subscriber enters a card at Stripe; Stripe tells JSN through the signed webhook, then sends them back.
    event = fake_stripe.checkout_complete(session["id"])
    assert deliver_event(fake_stripe, endpoint, event).status_code == 200
    assert stripe_gateway.customer_has_payment_method(user=user)
    page.goto(f"{live_server.url}/billing/?card=added")  # Checkout's success_url
    assert page.locator("#payment-gate").count() == 0
    assert "A card is on file" in page.locator("#payment-method").inner_text()
    shot(page, "gate-4-card-on-file")

    page.goto(f"{live_server.url}/cases/")
    page.check(f'input[name=case_ids][value="{case.pk}"]')
    page.click("text=Claim selected")
    page.wait_for_selector(f'#claim-results [data-case-id="{case.pk}"][data-outcome="claimed"]')
    assert Claim.objects.filter(user=user, case=case, status="active").exists()
    shot(page, "gate-5-claimed")
