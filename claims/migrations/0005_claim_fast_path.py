"""The claim path's cost: one index less to write per claim and per event, and on PostgreSQL `claims_claim_case()`,
claiming one case in one round trip (claims.services' fast path).

Claim.user and ClaimEvent.case lose their own foreign-key indexes: `claim_user_status` (user, status) and
`claimevent_case_time` (case, created_at) already start with those columns and serve every lookup.

The same steps, in the same order and with the same outcomes, as the ORM path in `claims.services._claim_cases`:
lock the user row (with the payment gate's facts), lock the case (with the user's active-claim count, counted
after the user lock was granted), decide, then write the claim with its frozen price, the case's owner and the
audit event. Each statement in a PL/pgSQL function takes its own snapshot (READ COMMITTED), exactly as the ORM
path's separate statements do.

Waiting is the ORM path's too. The user lock queues like the ORM path's first statement (bounded per wait by the
connection's lock_timeout, DB_LOCK_TIMEOUT_MS). The case lock does not queue: when another transaction holds the
case, the function answers `case_busy` without writing and the caller takes the ORM path, whose case lock waits
under CLAIM_WAIT_MS as a whole (C4). Two claims on one case at the same moment are rare; the uncontended claim is
one statement.

Prices stay Python's (billing.pricing): the caller passes the table of daily prices for scores 0–100 under the
pricing version it believes active; the function reads which version is active *after* taking the locks and
answers `reprice` (writing nothing) when it is another one. A no-op elsewhere (SQLite uses the ORM path).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION claims_claim_case(
    p_user_id bigint,
    p_case_id bigint,
    p_now timestamptz,
    p_expires_at timestamptz,
    p_gate_cutoff date,
    p_check_card boolean,
    p_livemode boolean,
    p_pricing_id bigint,
    p_prices integer[],
    p_default_price integer,
    p_default_currency text
) RETURNS TABLE (
    o_outcome text,
    o_claim_id bigint,
    o_active_claims integer,
    o_claim_limit integer,
    o_billing_active boolean,
    o_gate_overdue text,
    o_gate_has_card boolean,
    o_pricing_id bigint,
    o_daily_price_cents integer,
    o_currency text,
    o_pricing_version integer,
    o_score integer,
    o_status text,
    o_stage text,
    o_assigned_to_id bigint,
    o_state text,
    o_county text,
    o_city text,
    o_zip_code text,
    o_street text
) LANGUAGE plpgsql AS $fn$
DECLARE
    u record;
    c record;
    cfg record;
    n_active integer;
BEGIN
    -- 1. The user row, locked until commit: serialises this user's claims so the limit check cannot race.
    --    The payment gate's facts ride along (billing.selectors.payment_gate_annotations).
    SELECT usr.claim_limit, usr.billing_active,
           (SELECT inv.number FROM billing_invoice inv
             WHERE inv.user_id = usr.id AND inv.status = 'failed' AND inv.due_date < p_gate_cutoff
             ORDER BY inv.due_date LIMIT 1) AS overdue,
           CASE WHEN p_check_card THEN EXISTS (
               SELECT 1 FROM djstripe_customer cu
                WHERE cu.subscriber_id = usr.id AND cu.livemode = p_livemode
                  AND cu.default_payment_method_id IS NOT NULL) END AS has_card
      INTO u
      FROM accounts_user usr
     WHERE usr.id = p_user_id
       FOR UPDATE OF usr;  -- the user lock
    IF NOT FOUND THEN
        o_outcome := 'no_user';
        RETURN NEXT;
        RETURN;
    END IF;
    o_claim_limit := u.claim_limit;
    o_billing_active := u.billing_active;
    o_gate_overdue := u.overdue;
    o_gate_has_card := u.has_card;
    -- billing.selectors.payment_gate_from: billing off never gates; else no card (Stripe on) or an overdue invoice.
    IF u.billing_active AND (u.has_card IS FALSE OR u.overdue IS NOT NULL) THEN
        o_outcome := 'payment_required';
        RETURN NEXT;
        RETURN;
    END IF;

    -- 2. The case, locked; this statement starts after the user lock was granted, so its count holds every claim
    --    this user committed before us, and no new one can appear while we hold the user row.
    SELECT cs.id, cs.score, cs.status, cs.stage, cs.assigned_to_id, cs.state, cs.county, cs.city, cs.zip_code,
           cs.street,
           (SELECT count(*) FROM claims_claim cl WHERE cl.user_id = p_user_id AND cl.status = 'active') AS active,
           EXISTS (SELECT 1 FROM claims_claim cl WHERE cl.case_id = cs.id AND cl.status = 'active') AS has_active
      INTO c
      FROM cases_case cs
     WHERE cs.id = p_case_id
       FOR UPDATE OF cs SKIP LOCKED;
    IF NOT FOUND THEN
        IF EXISTS (SELECT 1 FROM cases_case WHERE id = p_case_id) THEN
            o_outcome := 'case_busy';  -- another transaction holds the case: the caller takes the ORM path
            RETURN NEXT;
            RETURN;
        END IF;
        SELECT count(*) INTO n_active FROM claims_claim cl WHERE cl.user_id = p_user_id AND cl.status = 'active';
        o_outcome := 'not_found';
        o_active_claims := n_active;
        RETURN NEXT;
        RETURN;
    END IF;
    o_active_claims := c.active;
    o_score := c.score;
    o_status := c.status;
    o_stage := c.stage;
    o_assigned_to_id := c.assigned_to_id;
    o_state := c.state;
    o_county := c.county;
    o_city := c.city;
    o_zip_code := c.zip_code;
    o_street := c.street;
    IF c.assigned_to_id = p_user_id THEN
        o_outcome := 'already_mine';
    ELSIF c.assigned_to_id IS NOT NULL OR c.has_active THEN
        o_outcome := 'already_claimed';
    ELSIF c.status <> 'open' OR c.stage IN ('sold', 'withdrawn') THEN
        o_outcome := 'not_claimable';
    ELSIF c.active >= u.claim_limit THEN
        o_outcome := 'limit_reached';
    END IF;
    IF o_outcome IS NOT NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;

    -- 3. The price, frozen now: the active pricing version (at most one row is active).
    SELECT pc.id, pc.version, pc.currency INTO cfg FROM billing_pricingconfig pc WHERE pc.is_active;
    o_pricing_id := cfg.id;
    IF cfg.id IS DISTINCT FROM p_pricing_id THEN
        o_outcome := 'reprice';  -- the caller's price table is for another version: nothing written
        RETURN NEXT;
        RETURN;
    END IF;
    IF cfg.id IS NULL THEN
        o_daily_price_cents := p_default_price;
        o_currency := p_default_currency;
    ELSE
        o_daily_price_cents := p_prices[c.score + 1];
        o_currency := cfg.currency;
        o_pricing_version := cfg.version;
    END IF;

    -- 4.-6. The claim, the case's owner in step with it, the audit event: the same transaction.
    INSERT INTO claims_claim (case_id, user_id, status, claimed_at, released_at, release_reason, expires_at,
                              score_at_claim, daily_price_cents, currency, pricing_version, expiry_warned_for)
    VALUES (c.id, p_user_id, 'active', p_now, NULL, '', p_expires_at,
            c.score, o_daily_price_cents, o_currency, o_pricing_version, NULL)
    RETURNING id INTO o_claim_id;
    UPDATE cases_case SET assigned_to_id = p_user_id, assigned_at = p_now WHERE id = c.id;
    INSERT INTO claims_claimevent (action, actor_id, case_id, claim_id, from_user_id, to_user_id, reason, created_at)
    VALUES ('claimed', p_user_id, c.id, o_claim_id, NULL, p_user_id, '', p_now);
    o_outcome := 'claimed';
    o_active_claims := c.active + 1;
    RETURN NEXT;
END;
$fn$;
"""

DROP = """
DROP FUNCTION IF EXISTS claims_claim_case(bigint, bigint, timestamptz, timestamptz, date, boolean, boolean, bigint,
                                          integer[], integer, text);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    # PL/pgSQL resolves table names when the function first runs, not here: no dependency on billing/dj-stripe.
    dependencies = [
        ("claims", "0004_claimevent_user_time_indexes"),
        ("cases", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name="claim",
            name="user",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="claims",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.AlterField(
            model_name="claimevent",
            name="case",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="claim_events",
                to="cases.case",
            ),
        ),
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
