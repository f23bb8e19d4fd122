"""The staff audit trail of account changes (claim limit, billing flag), append-only.

On PostgreSQL a trigger rejects UPDATE and DELETE even from raw SQL (as for claim events); TRUNCATE stays allowed
because test databases are flushed with it.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from jsn.lib.migrations import append_only_trigger


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
        append_only_trigger("accounts_userevent"),
    ]
