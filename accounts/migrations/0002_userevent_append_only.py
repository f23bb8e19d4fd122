"""The staff audit trail of account changes (claim limit, billing flag), append-only.

On PostgreSQL a trigger rejects UPDATE and DELETE even from raw SQL (as for claim events); TRUNCATE stays allowed
because test databases are flushed with it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


CREATE = """
CREATE OR REPLACE FUNCTION accounts_userevent_immutable() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION USING
        MESSAGE = 'accounts_userevent is append-only: ' || TG_OP || ' refused',
        ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS accounts_userevent_immutable ON accounts_userevent;
CREATE TRIGGER accounts_userevent_immutable
    BEFORE UPDATE OR DELETE ON accounts_userevent
    FOR EACH ROW EXECUTE FUNCTION accounts_userevent_immutable();
"""

DROP = """
DROP TRIGGER IF EXISTS accounts_userevent_immutable ON accounts_userevent;
DROP FUNCTION IF EXISTS accounts_userevent_immutable();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="UserEvent",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                (
                    "action",
                    models.CharField(
                        choices=[("claim_limit_set", "Claim limit set"), ("billing_set", "Billing switched")],
                        max_length=24,
                    ),
                ),
                ("from_value", models.CharField(blank=True, max_length=32)),
                ("to_value", models.CharField(max_length=32)),
                ("reason", models.CharField(blank=True, max_length=200)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        help_text="Empty: the system.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="events", to=settings.AUTH_USER_MODEL
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-id"],
                "indexes": [models.Index(fields=["user", "created_at"], name="userevent_user_time")],
            },
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
