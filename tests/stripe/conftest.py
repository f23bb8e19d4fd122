"""Fixtures shared by the Stripe tests."""

from tests.stripe.test_webhooks import endpoint  # noqa: F401  (the registered webhook endpoint fixture)
