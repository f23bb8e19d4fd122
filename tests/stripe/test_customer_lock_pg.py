"""Creating a user's Stripe customer while Stripe is slow (PostgreSQL, real threads, FakeStripe holding the create).

Creation is serialised per user by an advisory lock, not the user row: the user's claims lock that row, and a
subscriber's claim must not wait for Stripe (nor answer 423 busy) because another tab is setting up their card.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from djstripe.models import Customer

from accounts.models import User
from billing import stripe_gateway
from claims import services
from claims.services import Outcome
from tests.factories import CaseFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    """work() on a thread with its own database connection; its result or exception in the dict."""
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = work()
        except BaseException as exc:  # noqa: BLE001  (the test asserts on it)
            out["error"] = exc
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def creating_customer(fake_stripe, user: User) -> tuple[Any, threading.Thread, dict[str, Any]]:
    """customer_ensure(user) on a thread, parked inside Stripe's `POST /v1/customers` until the hold is released."""
    hold = fake_stripe.hold("POST", "/v1/customers")
    thread, out = in_thread(lambda: stripe_gateway.customer_ensure(user=User.objects.get(pk=user.pk)))
    assert hold.entered.wait(10), "customer_ensure never reached Stripe"
    return hold, thread, out


def test_a_claim_goes_through_while_the_same_users_customer_is_being_created(fake_stripe, subscriber):
    User.objects.filter(pk=subscriber.pk).update(billing_active=False)  # no card needed to claim
    case = CaseFactory()
    hold, thread, out = creating_customer(fake_stripe, subscriber)
    try:
        started = time.monotonic()
        result = services.claim_cases(user=User.objects.get(pk=subscriber.pk), case_ids=[case.pk])
        waited = time.monotonic() - started
    finally:
        hold.release()
        thread.join(30)

    assert result.outcomes[0].outcome == Outcome.CLAIMED
    assert waited < 1.0  # not the user lock's 2 s wait ending in 423 busy
    assert "error" not in out and Customer.objects.filter(subscriber=subscriber).count() == 1


def test_two_first_requests_make_one_customer(fake_stripe, subscriber):
    hold, first, first_out = creating_customer(fake_stripe, subscriber)
    second, second_out = in_thread(lambda: stripe_gateway.customer_ensure(user=User.objects.get(pk=subscriber.pk)))
    time.sleep(0.3)  # the second request is now waiting for the first one's lock
    hold.release()
    first.join(30)
    second.join(30)

    assert first_out["result"].id == second_out["result"].id
    assert len(fake_stripe.requests("POST", "/v1/customers")) == 1  # the second found the first one's customer
    assert Customer.objects.filter(subscriber=subscriber).count() == 1


def test_a_second_request_that_waits_too_long_is_told_to_try_again(fake_stripe, subscriber, settings):
    hold, first, first_out = creating_customer(fake_stripe, subscriber)
    try:
        with pytest.raises(stripe_gateway.StripeUnavailable, match="try again in a moment"):
            stripe_gateway.customer_ensure(user=User.objects.get(pk=subscriber.pk))  # past lock_timeout (2 s)
    finally:
        hold.release()
        first.join(30)

    assert "error" not in first_out
    assert len(fake_stripe.requests("POST", "/v1/customers")) == 1
