"""PostgreSQL's one-round-trip claim (migration claims 0004, `claims.services._claim_one_in_sql`): what only that path
has to get right. The outcomes, errors and locks shared with the ORM path are tested through both paths elsewhere
(test_claim_cases, test_claims_api, the payment gate, C1–C4)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.pricing import DEFAULT_BANDS, bands_to_data
from billing.services import pricing_config_publish
from cases.models import Case
from claims import services
from claims.models import Claim, ClaimEvent
from tests.factories import CaseFactory, UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def claim_one(user, case) -> services.ClaimResult:
    return services.claim_cases(user=user, case_ids=[case.pk])


def sql_round_trips(ctx: CaptureQueriesContext) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if "claims_claim_case(" in q["sql"]]


def test_the_price_follows_each_newly_published_pricing_version(subscriber, staff_user, settings):
    """The caller passes the price table of the version it last saw; the function checks, under the claim's locks,
    which version is active, and a newer one makes the service price with it and call again. Frozen prices stay."""
    settings.DEFAULT_DAILY_PRICE_CENTS = 321
    no_config = claim_one(subscriber, CaseFactory(score=90)).claims[0]
    assert (no_config.daily_price_cents, no_config.currency, no_config.pricing_version) == (321, "usd", None)

    v1 = pricing_config_publish(actor=staff_user, model="banded", currency="usd", bands=bands_to_data(DEFAULT_BANDS))
    with CaptureQueriesContext(connection) as ctx:
        banded = claim_one(subscriber, CaseFactory(score=85)).claims[0]
    assert len(sql_round_trips(ctx)) == 2  # "reprice" (nothing written), then the claim with v1's prices
    assert (banded.daily_price_cents, banded.pricing_version) == (1500, v1.version)  # 80–100: $15.00

    with CaptureQueriesContext(connection) as ctx:
        low = claim_one(subscriber, CaseFactory(score=39)).claims[0]
    assert len(sql_round_trips(ctx)) == 1  # v1 is still active: one call
    assert low.daily_price_cents == 250

    v2 = pricing_config_publish(
        actor=staff_user, model="multiplier", currency="usd", cents_per_point=10, floor_cents=300
    )  # same currency: a switch is refused while these claims have days to bill (billing.services)
    scored = claim_one(subscriber, CaseFactory(score=72)).claims[0]
    assert (scored.daily_price_cents, scored.currency, scored.pricing_version) == (720, "usd", v2.version)
    # What the service returned is what was stored, and earlier claims kept their frozen prices.
    stored = {c.pk: (c.daily_price_cents, c.currency, c.pricing_version) for c in Claim.objects.all()}
    assert stored == {
        no_config.pk: (321, "usd", None),
        banded.pk: (1500, "usd", v1.version),
        low.pk: (250, "usd", v1.version),
        scored.pk: (720, "usd", v2.version),
    }
    assert Claim.objects.filter(pk=scored.pk).values_list("score_at_claim", flat=True).get() == 72


def test_the_claim_returned_matches_the_rows_written(subscriber, settings):
    """The 201 body is built from the function's answer without re-reading: it must equal the stored rows."""
    settings.CLAIM_MAX_DAYS = 30
    case = CaseFactory(score=64, street="7 Mulberry Lane")
    result = claim_one(subscriber, case)
    claim = result.claims[0]
    stored = Claim.objects.select_related("case").get(pk=claim.pk)
    fields = ("case_id", "user_id", "status", "claimed_at", "expires_at", "score_at_claim", "daily_price_cents",
              "currency", "pricing_version", "released_at", "release_reason")  # fmt: skip
    assert {f: getattr(claim, f) for f in fields} == {f: getattr(stored, f) for f in fields}
    assert stored.expires_at is not None
    for f in ("state", "county", "city", "zip_code", "street", "score", "assigned_to_id", "assigned_at"):
        assert getattr(claim.case, f) == getattr(stored.case, f), f
    assert (result.active_claims, result.claim_limit) == (1, subscriber.claim_limit)
    event = ClaimEvent.objects.get()
    assert (event.action, event.actor_id, event.case_id, event.claim_id, event.from_user_id, event.to_user_id) == (
        "claimed", subscriber.pk, case.pk, claim.pk, None, subscriber.pk,
    )  # fmt: skip
    assert (event.created_at, event.reason) == (claim.claimed_at, "")


def test_the_function_writes_every_column_of_a_claim_and_an_event():
    """A column added to Claim or ClaimEvent must be added to the function's INSERTs too (a NOT NULL column without
    a database default would otherwise break every claim on PostgreSQL only)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_functiondef('claims_claim_case'::regproc)")
        definition = cursor.fetchone()[0]
    for model in (Claim, ClaimEvent):
        table = model._meta.db_table
        start = definition.index(f"INSERT INTO {table} (") + len(f"INSERT INTO {table} (")
        written = {c.strip() for c in definition[start : definition.index(")", start)].split(",")}
        columns = {f.column for f in model._meta.concrete_fields if not f.primary_key}
        assert written == columns, (table, columns ^ written)


def test_a_deleted_user_is_an_error_on_both_paths(monkeypatch):
    case = CaseFactory()
    ghost = UserFactory()
    type(ghost).objects.filter(pk=ghost.pk).delete()
    with pytest.raises(type(ghost).DoesNotExist):
        claim_one(ghost, case)
    monkeypatch.setattr(services, "_single_claim_in_sql", lambda case_ids: False)
    with pytest.raises(type(ghost).DoesNotExist):
        claim_one(ghost, case)
    assert not Claim.objects.exists()
    case.refresh_from_db()
    assert case.assigned_to_id is None


def test_inside_a_callers_transaction_a_failed_call_rolls_back_to_its_savepoint_only(subscriber, monkeypatch):
    """Within an open transaction the call runs in a savepoint: an error (here: a function that does not exist)
    undoes the call alone, and the caller's transaction goes on."""
    from django.db import transaction
    from django.db.utils import ProgrammingError

    case = CaseFactory()
    with transaction.atomic():
        Case.objects.filter(pk=case.pk).update(county="Kept")
        monkeypatch.setattr(services, "CLAIM_CASE_FUNCTION", "claims_claim_case_missing")
        with pytest.raises(ProgrammingError):
            claim_one(subscriber, case)
        monkeypatch.undo()
        assert claim_one(subscriber, case).outcomes[0].outcome == "claimed"
    case.refresh_from_db()
    assert (case.county, case.assigned_to_id) == ("Kept", subscriber.pk)
