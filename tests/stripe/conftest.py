"""Fixtures shared by the Stripe tests."""

from tests.stripe.test_webhooks import completed_setup, endpoint  # noqa: F401  (fixtures: the endpoint, a Checkout)
