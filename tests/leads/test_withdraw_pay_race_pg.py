"""Withdrawing a PLZ while "Pay with Stripe" for it is on its way to Stripe (PostgreSQL, real threads, FakeStripe
holding the session create): the payment page that comes back must not be payable, and the agent is told so."""

from __future__ import annotations

import pytest
from django.db import transaction

from accounts.models import User
from leads.models import PlzCheckout, PlzSubscription
from leads.services import (
    ERR_CHECKOUT_RETIRED,
    LeadError,
    plz_checkout_start,
    subscription_request,
    subscription_withdraw,
)
from tests.stripe.test_customer_lock_pg import in_thread

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def plz_price(fake_stripe, settings) -> str:
    settings.STRIPE_PLZ_PRICE_ID = fake_stripe.price_create()["id"]
    return settings.STRIPE_PLZ_PRICE_ID


def _start(user: User):
    return plz_checkout_start(
        user=User.objects.get(pk=user.pk),
        plzs=["10115", "80331"],
        success_url="https://x/ok",
        cancel_url="https://x/no",
    )


@pytest.mark.usefixtures("plz_price")
def test_a_withdrawal_while_stripe_opens_the_checkout_closes_the_session_that_comes_back(fake_stripe, subscriber):
    withdrawn = subscription_request(user=subscriber, plz="10115")
    subscription_request(user=subscriber, plz="80331")
    hold = fake_stripe.hold("POST", "/v1/checkout/sessions")
    thread, out = in_thread(lambda: _start(subscriber))
    try:
        assert hold.entered.wait(10), "the Pay click never reached Stripe"
        # The click's row is committed and waits for Stripe's answer; the agent withdraws 10115 in another tab.
        result = subscription_withdraw(user=User.objects.get(pk=subscriber.pk), subscription_id=withdrawn.pk)
    finally:
        hold.release()
        thread.join(30)

    assert result.subscription.status == PlzSubscription.Status.CANCELED and result.paid_first is False
    assert isinstance(out.get("error"), LeadError) and str(out["error"]) == ERR_CHECKOUT_RETIRED
    (session,) = fake_stripe.of_type("checkout.session")
    assert fake_stripe.get(session["id"])["status"] == "expired"  # the page Stripe made cannot take the money
    assert not PlzCheckout.objects.filter(status=PlzCheckout.Status.OPEN).exists()
    # Paying again now covers only what is still requested.
    link = _start(subscriber)
    new = fake_stripe.get(link.id)
    assert new["status"] == "open" and new["_subscription_data"]["metadata"]["jsn_plzs"] == "80331"


@pytest.mark.usefixtures("plz_price")
def test_a_pay_click_waiting_for_a_withdrawal_pays_only_what_is_left(fake_stripe, subscriber):
    """The other order: the withdrawal holds the user row; the click that waits for it sees 10115 withdrawn."""
    withdrawn = subscription_request(user=subscriber, plz="10115")
    subscription_request(user=subscriber, plz="80331")
    with transaction.atomic():
        User.objects.select_for_update().get(pk=subscriber.pk)  # as subscription_withdraw holds it
        PlzSubscription.objects.filter(pk=withdrawn.pk).update(status=PlzSubscription.Status.CANCELED)
        thread, out = in_thread(lambda: _start(subscriber))
        thread.join(0.5)
        assert thread.is_alive()  # the click waits for the user row
    thread.join(30)

    session = fake_stripe.get(out["result"].id)
    assert session["_subscription_data"]["metadata"]["jsn_plzs"] == "80331"
