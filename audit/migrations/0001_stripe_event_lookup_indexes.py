"""Indexes on dj-stripe's event table for the audit timelines' lookups by the Stripe object and customer an event
concerns (`data -> object -> id / customer`). Without them every timeline page scans every event ever received.

PostgreSQL only (SQLite, the local demo database, has no such table sizes); built CONCURRENTLY so a live
event table is not locked while the index builds.
"""

from django.conf import settings
from django.db import migrations

from jsn.lib.migrations import concurrent_indexes

INDEXES = {
    "audit_djstripe_event_object": "(((data #>> '{object,id}'::text[])), djstripe_created)",
    "audit_djstripe_event_customer": "(((data #>> '{object,customer}'::text[])), djstripe_created)",
}


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    # On SQLite dj-stripe's migrations are off (settings.MIGRATION_MODULES; its tables come from --run-syncdb), so
    # there is no migration to wait for, and the indexes are skipped there anyway.
    dependencies = [] if "djstripe" in settings.MIGRATION_MODULES else [("djstripe", "0003_2_11")]

    operations = [concurrent_indexes("djstripe_event", INDEXES)]
