"""Claiming a case becomes a HOT update on PostgreSQL: the row is rewritten in its own page with no new entry in
any of cases_case's indexes.

A claim, release or reassignment changes `assigned_to_id` (and `assigned_at`). While `case_assigned_to` indexed that
column, every such UPDATE inserted a new entry into all six indexes of the table (PostgreSQL can skip the indexes
only when no indexed column changes and the new row version fits in the same page): six random index pages
dirtied per claim, each a full-page image in the WAL after every checkpoint, and index bloat growing with claim
churn. "Which cases does this user own" now goes through claims' `claim_user_status` index (cases.selectors
owned_cases). A fillfactor of 90 keeps room in each page for the updated row; it applies to pages written from now
on (`VACUUM FULL cases_case` or pg_repack rewrites existing ones, optional).
"""

from django.db import migrations


def fillfactor(value: int | None):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        if value is None:
            schema_editor.execute("ALTER TABLE cases_case RESET (fillfactor)")
        else:
            schema_editor.execute(f"ALTER TABLE cases_case SET (fillfactor = {int(value)})")

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0004_drop_duplicate_assigned_to_index"),
    ]

    operations = [
        migrations.RemoveIndex(model_name="case", name="case_assigned_to"),
        migrations.RunPython(fillfactor(90), fillfactor(None), elidable=False),
    ]
