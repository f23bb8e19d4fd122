"""Celery adapters for the lead jobs. Each is idempotent and safe when two Beats trigger it at once."""

import logging
from dataclasses import asdict

from celery import shared_task

from leads import services
from leads.dialfire import dialfire_import
from leads.services.retention import lead_pdfs_orphaned_delete

logger = logging.getLogger(__name__)


@shared_task
def import_dialfire_task() -> dict:
    """Every 15 minutes: new Dialfire contacts become leads. Dialfire's failures are recorded, never raised."""
    report = dialfire_import()
    if report.skipped:
        return {"skipped": report.skipped}
    return {"pages": report.pages, "created": report.created, "duplicates": report.duplicates, "error": report.error}


@shared_task
def send_due_deliveries_task() -> dict:
    """Every minute: plan leads left ready, then send what is due. The 72-hour window lives in Delivery.due_at."""
    planned = services.leads_distribute_ready()
    report = services.deliveries_send_due()
    ambiguous = services.deliveries_ambiguous_count()
    if ambiguous:
        logger.warning("%s lead deliveries are ambiguous (stuck in 'sending'): staff must check them", ambiguous)
    return {"planned": planned, "sent": report.sent, "skipped": report.skipped, "failed": report.failed}


@shared_task
def check_subscriptions_task() -> dict:
    """Daily: end manual grants past their period, and re-read every open Stripe-paid subscription from Stripe
    (one call per Stripe subscription; a failure is logged and counted, the rest go on — unless Stripe keeps not
    answering: then the rest wait for the next run)."""
    stripe = services.plz_subscriptions_recheck_stripe()
    return {
        "expired": services.subscriptions_expire(),
        "stripe_checked": stripe["checked"],
        "stripe_failed": stripe["failed"],
        "stripe_not_checked": stripe["not_checked"],
    }


@shared_task
def delete_orphaned_lead_pdfs_task() -> dict[str, int]:
    """Daily: delete stored lead PDFs no Lead references, once older than RETENTION_ORPHAN_FILE_DAYS."""
    return asdict(lead_pdfs_orphaned_delete())
