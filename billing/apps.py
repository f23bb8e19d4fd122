from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed

STRIPE_HTTP_SETTINGS = ("STRIPE_CONNECT_TIMEOUT_SECONDS", "STRIPE_TIMEOUT_SECONDS")


def _stripe_http_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in STRIPE_HTTP_SETTINGS:
        from billing import stripe_gateway

        stripe_gateway.http_client_configure()


class BillingConfig(AppConfig):
    name = "billing"

    def ready(self) -> None:
        from billing import stripe_gateway, webhooks  # noqa: F401  (webhooks registers the Stripe webhook receivers)

        stripe_gateway.http_client_configure()
        # The admin (first in INSTALLED_APPS) has autodiscovered dj-stripe's admins by now.
        from billing.djstripe_admin import actions_require_change_permission, search_fields_that_exist

        actions_require_change_permission()
        search_fields_that_exist()
        setting_changed.connect(_stripe_http_setting_changed, dispatch_uid="billing-stripe-http-client")
