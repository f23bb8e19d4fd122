"""On PostgreSQL, reject UPDATE and DELETE on the audit trail even from raw SQL. A no-op elsewhere (SQLite).

TRUNCATE stays allowed on purpose: test databases are flushed with it, and it needs table ownership.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION claims_claimevent_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'claims_claimevent is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS claims_claimevent_immutable ON claims_claimevent;
CREATE TRIGGER claims_claimevent_immutable
    BEFORE UPDATE OR DELETE ON claims_claimevent
    FOR EACH ROW EXECUTE FUNCTION claims_claimevent_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS claims_claimevent_immutable ON claims_claimevent;
DROP FUNCTION IF EXISTS claims_claimevent_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("claims", "0002_claim_expiry_warned_for")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]
