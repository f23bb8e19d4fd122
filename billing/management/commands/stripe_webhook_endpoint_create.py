"""Register JSN's webhook endpoint at Stripe and store it (with its signing secret) in dj-stripe's table."""

from uuid import uuid4

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse
from djstripe.models import WebhookEndpoint

from billing import stripe_gateway
from billing.webhooks import INVOICE_EVENTS, SUBSCRIPTION_EVENTS

ENABLED_EVENTS = sorted(
    {
        *INVOICE_EVENTS,
        *SUBSCRIPTION_EVENTS,
        "checkout.session.completed",
        "checkout.session.expired",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "customer.updated",
        "invoice.created",
        "invoice.updated",
    }
)


class Command(BaseCommand):
    help = "Create the Stripe webhook endpoint for a public base URL, e.g. https://jsn.example.com"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("base_url", help="Public https base URL of this JSN site (no path)")

    def handle(self, *args: object, base_url: str, **options: object) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise CommandError("base_url must start with https:// (Stripe only delivers to public URLs).")
        djstripe_uuid = uuid4()
        url = base_url.rstrip("/") + reverse("djstripe:djstripe_webhook_by_uuid", kwargs={"uuid": djstripe_uuid})
        try:
            data = stripe_gateway.webhook_endpoint_create(
                url=url, enabled_events=ENABLED_EVENTS, metadata={"djstripe_uuid": str(djstripe_uuid)}
            )
        except stripe_gateway.StripeGatewayError as e:
            raise CommandError(str(e)) from e
        # dj-stripe reads the uuid back from the metadata; the secret is only in this create answer.
        endpoint = WebhookEndpoint.sync_from_stripe_data(data)
        self.stdout.write(f"Created Stripe webhook endpoint {endpoint.id}")
        self.stdout.write(f"Stripe delivers to: {endpoint.url}")
