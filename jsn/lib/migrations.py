"""Migration helpers. Migrations import these, so what they emit must never change for a given argument."""

from django.db import migrations

_CREATE = """
CREATE OR REPLACE FUNCTION {table}_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = '{table} is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS {table}_immutable ON {table};
CREATE TRIGGER {table}_immutable
    BEFORE UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION {table}_immutable();
"""

_DROP = """
DROP TRIGGER IF EXISTS {table}_immutable ON {table};
DROP FUNCTION IF EXISTS {table}_immutable();
"""


def append_only_trigger(table: str) -> migrations.RunPython:
    """On PostgreSQL, a trigger that rejects UPDATE and DELETE on `table` even from raw SQL (jsn.lib.models
    AppendOnlyModel guards the ORM side). A no-op elsewhere (SQLite). TRUNCATE stays allowed on purpose: test
    databases are flushed with it, and it needs table ownership."""

    def forwards(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_CREATE.format(table=table))

    def backwards(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(_DROP.format(table=table))

    return migrations.RunPython(forwards, backwards, elidable=False)


def concurrent_indexes(table: str, indexes: dict[str, str]) -> migrations.RunPython:
    """On PostgreSQL, `CREATE INDEX CONCURRENTLY IF NOT EXISTS <name> ON <table> <definition>` for each entry (a live
    table is not locked while the index builds), dropped concurrently backwards; the migration must set
    `atomic = False`. A no-op elsewhere (SQLite, the local demo database, has no such table sizes)."""

    def forwards(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for name, definition in indexes.items():
                schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON {table} {definition}")

    def backwards(apps, schema_editor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            for name in indexes:
                schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")

    return migrations.RunPython(forwards, backwards, elidable=False)
