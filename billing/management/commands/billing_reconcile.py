"""manage.py billing_reconcile — compare recent invoices with Stripe (by metadata) and report drift now."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from billing import stripe_gateway
from billing.models import StripeDrift
from billing.services import billing_reconcile


class Command(BaseCommand):
    help = (
        "Compare local invoices of the last --days days with Stripe, found by metadata. Differences are stored "
        "as StripeDrift rows (admin: Billing › Stripe drifts); ones that no longer apply are marked resolved."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=35, help="How far back to look (default 35).")

    def handle(self, *args: object, days: int, **options: object) -> None:
        if not stripe_gateway.is_enabled():
            raise CommandError(stripe_gateway.ERROR_NOT_CONFIGURED)
        try:
            counts = billing_reconcile(since_days=days)
        except stripe_gateway.StripeGatewayError as exc:
            raise CommandError(f"Stripe: {exc}") from exc
        self.stdout.write(
            f"Checked {counts['checked']} invoices: {counts['drift']} difference(s), {counts['resolved']} resolved."
        )
        for drift in StripeDrift.objects.filter(resolved_at__isnull=True).select_related("invoice")[:50]:
            self.stdout.write(f"  {drift.invoice.number}: {drift}")
