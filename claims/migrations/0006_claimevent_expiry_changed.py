"""A staff change of a claim's expiry is audited (ClaimEvent action `expiry_changed`, with the expiry before and
after in two new nullable columns).

`claims_claim_case()` (0005) names every column of its event INSERT (tests/claims/test_claim_fast_path.py holds it
to the model): it is redefined with the two new columns, NULL for a claim. The rest of the function is 0005's.
"""

import importlib

from django.db import migrations, models

FAST_PATH = importlib.import_module("claims.migrations.0005_claim_fast_path")
EVENT_INSERT = """INSERT INTO claims_claimevent (action, actor_id, case_id, claim_id, from_user_id, to_user_id, reason, created_at)
    VALUES ('claimed', p_user_id, c.id, o_claim_id, NULL, p_user_id, '', p_now);"""
EVENT_INSERT_WITH_EXPIRY = """INSERT INTO claims_claimevent (action, actor_id, case_id, claim_id, from_user_id, to_user_id, reason, created_at,
                                   expires_before, expires_after)
    VALUES ('claimed', p_user_id, c.id, o_claim_id, NULL, p_user_id, '', p_now, NULL, NULL);"""


def _function(insert: str) -> str:
    if EVENT_INSERT not in FAST_PATH.CREATE:
        raise RuntimeError("claims 0005's claims_claim_case() no longer has the event INSERT this migration rewrites.")
    return FAST_PATH.CREATE.replace(EVENT_INSERT, insert)


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(EVENT_INSERT_WITH_EXPIRY))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_function(EVENT_INSERT))


class Migration(migrations.Migration):

    dependencies = [
        ('claims', '0005_claim_fast_path'),
    ]

    operations = [
        migrations.AddField(
            model_name='claimevent',
            name='expires_after',
            field=models.DateTimeField(blank=True, help_text='Expiry changed: the expiry after.', null=True),
        ),
        migrations.AddField(
            model_name='claimevent',
            name='expires_before',
            field=models.DateTimeField(blank=True, help_text='Expiry changed: the expiry before.', null=True),
        ),
        migrations.AlterField(
            model_name='claimevent',
            name='action',
            field=models.CharField(choices=[('claimed', 'Claimed'), ('released', 'Released'), ('expired', 'Expired'), ('reassigned', 'Reassigned'), ('expiry_changed', 'Expiry changed')], max_length=16),
        ),
        # After the columns exist: PL/pgSQL checks the INSERT's columns when the function first runs.
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
