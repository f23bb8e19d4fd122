"""On PostgreSQL, reject UPDATE and DELETE on the audit trail even from raw SQL. A no-op elsewhere (SQLite).

TRUNCATE stays allowed on purpose: test databases are flushed with it, and it needs table ownership.
"""

from django.db import migrations

from jsn.lib.migrations import append_only_trigger


class Migration(migrations.Migration):
    dependencies = [("claims", "0002_claim_expiry_warned_for")]

    operations = [append_only_trigger("claims_claimevent")]
