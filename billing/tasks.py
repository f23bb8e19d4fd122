from dataclasses import asdict

from celery import shared_task

from billing import services
from billing.models import BillingRun
from billing.retention import webhook_bodies_drop
from billing.services import billing_run
from billing.stripe_sync import PAYMENT_FAILED_NOTICE, STRIPE_SYNC, STRIPE_SYNC_LEASE
from outbox.services import outbox_handler


@shared_task
def bill_daily_task() -> dict:
    """Beat fires this at 00:15 BILLING_TIME_ZONE. It bills every unbilled (user, day) before today, so a missed
    or doubled trigger is harmless; a redelivered task finds nothing left to bill."""
    summary = billing_run(trigger=BillingRun.Trigger.BEAT)
    return {
        "run_id": summary.run_id,
        "first_day": summary.first_day.isoformat(),
        "last_day": summary.last_day.isoformat(),
        "invoices": summary.invoices,
        "lines": summary.lines,
        "failures": len(summary.failures),
    }


@outbox_handler(STRIPE_SYNC, lease=STRIPE_SYNC_LEASE)
def send_invoices_to_stripe(*, run_id: int | None = None) -> None:
    """After each billing run: send every open invoice not yet settled at Stripe. Promised through the outbox in
    the run's last transaction, run outside a transaction (each Stripe step commits its own row) and retried with
    the outbox's back-off while invoices are left (Stripe down). Running it twice is harmless: each step carries an
    idempotency key and settled invoices are skipped."""
    services.invoices_stripe_sync_after_run(run_id=run_id)


@shared_task
def sync_stripe_invoices_task() -> dict[str, int]:
    """The pre-outbox task, kept so that tasks queued before an upgrade still run; nothing queues it now."""
    return services.invoices_stripe_sync_pending()


@outbox_handler(PAYMENT_FAILED_NOTICE)
def send_payment_failed_notice(*, invoice_id: int) -> None:
    """The "payment failed" e-mail with the Billing Portal link; skipped if the invoice was paid meanwhile.
    Sent by the outbox once per failure recorded (billing.stripe_sync.invoice_move_forward)."""
    services.email_payment_failed(invoice_id=invoice_id)


@shared_task
def email_payment_failed_task(invoice_id: int) -> None:
    """The pre-outbox task, kept so that messages queued before an upgrade are still sent; nothing queues it now."""
    send_payment_failed_notice(invoice_id=invoice_id)


@shared_task
def billing_reconcile_task() -> dict[str, int]:
    """Daily: compare recent invoices with Stripe by metadata; drift goes to the admin (StripeDrift)."""
    return services.billing_reconcile()


@shared_task
def drop_old_webhook_bodies_task() -> dict[str, int]:
    """Daily: empty raw Stripe webhook bodies and headers older than RETENTION_WEBHOOK_BODY_DAYS (rows stay)."""
    return asdict(webhook_bodies_drop())
