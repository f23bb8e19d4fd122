"""Indexes on dj-stripe's webhook delivery table (WebhookEventTrigger) for the dashboard's and the health API's
webhook figures (backoffice.metrics.webhook_health): the last day's and week's deliveries, the latest one, the latest
failure. Without them each load reads every delivery ever received (the table keeps one row per delivery for good).

PostgreSQL only (SQLite, the local demo database, has no such table sizes); built CONCURRENTLY so a live table is not
locked while the index builds.
"""

from django.conf import settings
from django.db import migrations

from jsn.lib.migrations import concurrent_indexes

TABLE = "djstripe_webhookeventtrigger"
INDEXES = {
    "backoffice_webhook_trigger_created": "(created)",
    # Failures are rare: their latest one is found without walking back through every processed delivery.
    "backoffice_webhook_trigger_failed": "(created) WHERE valid AND NOT processed",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    # On SQLite dj-stripe's migrations are off (settings.MIGRATION_MODULES; its tables come from --run-syncdb), so
    # there is no migration to wait for, and the indexes are skipped there anyway.
    dependencies = [("backoffice", "0001_job_runs")] + (
        [] if "djstripe" in settings.MIGRATION_MODULES else [("djstripe", "0003_2_11")]
    )

    operations = [concurrent_indexes(TABLE, INDEXES)]
