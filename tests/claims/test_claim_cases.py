from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from cases.models import Case
from claims import services
from claims.models import Claim, ClaimEvent
from claims.services import Outcome
from tests.factories import CaseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("claim_path")]  # both claim paths


def outcomes(result: services.ClaimResult) -> dict[int, str]:
    return {o.case_id: o.outcome.value for o in result.outcomes}


def test_claim_freezes_score_and_price_and_assigns_the_case(subscriber, settings):
    settings.DEFAULT_DAILY_PRICE_CENTS = 1234
    case = CaseFactory(score=83)
    result = services.claim_cases(user=subscriber, case_ids=[case.pk])
    assert outcomes(result) == {case.pk: "claimed"}
    claim = Claim.objects.get(case=case)
    assert (claim.user, claim.status, claim.score_at_claim) == (subscriber, "active", 83)
    assert (claim.daily_price_cents, claim.currency) == (1234, "usd")
    case.refresh_from_db()
    assert case.assigned_to == subscriber and case.assigned_at == claim.claimed_at
    # A later price change never alters the frozen claim.
    settings.DEFAULT_DAILY_PRICE_CENTS = 9999
    claim.refresh_from_db()
    assert claim.daily_price_cents == 1234


def test_claim_writes_one_audit_event_per_case(subscriber):
    cases = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases])
    events = ClaimEvent.objects.order_by("case_id")
    assert [(e.action, e.actor_id, e.to_user_id, e.case_id) for e in events] == [
        ("claimed", subscriber.pk, subscriber.pk, c.pk) for c in cases
    ]
    assert all(e.claim.case_id == e.case_id for e in events)


def test_bulk_claim_reports_every_outcome_in_request_order(subscriber, other_subscriber):
    subscriber.claim_limit = 2
    subscriber.save()
    taken = CaseFactory()
    services.claim_cases(user=other_subscriber, case_ids=[taken.pk])
    sold = CaseFactory(stage=Case.Stage.SOLD)
    closed = CaseFactory(status=Case.Status.CLOSED)
    free = CaseFactory.create_batch(3)
    missing = max(c.pk for c in free) + 1000
    ids = [free[2].pk, taken.pk, missing, sold.pk, free[0].pk, closed.pk, free[1].pk]
    result = services.claim_cases(user=subscriber, case_ids=ids)
    assert [o.case_id for o in result.outcomes] == ids
    # The limit (2) is filled in the order the request named the cases (locks are still taken in id order).
    assert outcomes(result) == {
        free[2].pk: "claimed",
        free[0].pk: "claimed",
        free[1].pk: "limit_reached",
        taken.pk: "already_claimed",
        missing: "not_found",
        sold.pk: "not_claimable",
        closed.pk: "not_claimable",
    }
    assert (result.active_claims, result.claim_limit) == (2, 2)
    assert Case.objects.filter(assigned_to=subscriber).count() == 2


def test_limit_message_names_the_limit(subscriber):
    subscriber.claim_limit = 1
    subscriber.save()
    a, b = CaseFactory.create_batch(2)
    services.claim_cases(user=subscriber, case_ids=[a.pk])
    result = services.claim_cases(user=subscriber, case_ids=[b.pk])
    assert result.outcomes[0].outcome == Outcome.LIMIT_REACHED
    assert result.outcomes[0].detail == "You have reached your claim limit of 1. Release a case to claim another."
    assert not Claim.objects.filter(case=b).exists()


def test_claiming_your_own_case_again_changes_nothing(subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    result = services.claim_cases(user=subscriber, case_ids=[case.pk])
    assert result.outcomes[0].outcome == Outcome.ALREADY_CLAIMED and result.outcomes[0].mine
    assert Claim.objects.filter(case=case).count() == 1


def test_expiry_comes_from_claim_max_days(subscriber, settings):
    settings.CLAIM_MAX_DAYS = 7
    case = CaseFactory()
    with time_machine.travel("2026-03-01 10:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[case.pk])
    assert Claim.objects.get(case=case).expires_at == datetime(2026, 3, 8, 10, tzinfo=UTC)
    settings.CLAIM_MAX_DAYS = None
    other = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[other.pk])
    assert Claim.objects.get(case=other).expires_at is None


def test_release_by_owner_unassigns_and_audits(subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    result = services.claim_release(actor=subscriber, case_ids=[case.pk], reason="")
    assert result.outcomes[0].outcome == Outcome.RELEASED
    claim = Claim.objects.get(case=case)
    assert claim.status == "released" and claim.released_at is not None
    assert claim.release_reason == services.OWNER_RELEASE_REASON
    case.refresh_from_db()
    assert case.assigned_to is None and case.assigned_at is None
    event = ClaimEvent.objects.get(action="released")
    assert (event.actor, event.from_user, event.claim) == (subscriber, subscriber, claim)


def test_release_outcomes_for_non_owner_unclaimed_and_missing(subscriber, other_subscriber):
    mine, unclaimed = CaseFactory.create_batch(2)
    services.claim_cases(user=subscriber, case_ids=[mine.pk])
    result = services.claim_release(actor=other_subscriber, case_ids=[mine.pk, unclaimed.pk, 10**9], reason="x")
    assert [o.outcome for o in result.outcomes] == [Outcome.NOT_OWNER, Outcome.NOT_CLAIMED, Outcome.NOT_FOUND]
    mine.refresh_from_db()
    assert mine.assigned_to == subscriber


def test_staff_release_is_audited_with_reason_and_mails_the_owner(
    subscriber, staff_user, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.claim_release(actor=staff_user, case_ids=[case.pk], reason="Duplicate account")
    event = ClaimEvent.objects.get(action="released")
    assert (event.actor, event.from_user, event.reason) == (staff_user, subscriber, "Duplicate account")
    assert [m.to for m in mailoutbox] == [[subscriber.email]]
    assert "Duplicate account" in mailoutbox[0].body
    assert case.case_number not in mailoutbox[0].body  # the e-mail outlives ownership: public fields only


def test_released_case_can_be_claimed_by_someone_else(subscriber, other_subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    services.claim_release(actor=subscriber, case_ids=[case.pk])
    result = services.claim_cases(user=other_subscriber, case_ids=[case.pk])
    assert result.outcomes[0].outcome == Outcome.CLAIMED
    assert Claim.objects.filter(case=case).count() == 2
    assert Claim.objects.get(case=case, status="active").user == other_subscriber


def test_reassign_freezes_new_price_and_audits(subscriber, other_subscriber, staff_user, settings):
    settings.DEFAULT_DAILY_PRICE_CENTS = 500
    case = CaseFactory(score=90)
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    old = Claim.objects.get(case=case)
    settings.DEFAULT_DAILY_PRICE_CENTS = 1500
    new = services.claim_reassign(actor=staff_user, claim=old, to_user=other_subscriber, reason="Agent left")
    old.refresh_from_db()
    assert (old.status, old.release_reason, old.daily_price_cents) == ("reassigned", "Agent left", 500)
    assert (new.user, new.status, new.daily_price_cents, new.score_at_claim) == (other_subscriber, "active", 1500, 90)
    case.refresh_from_db()
    assert case.assigned_to == other_subscriber
    event = ClaimEvent.objects.get(action="reassigned")
    assert (event.actor, event.from_user, event.to_user, event.claim, event.reason) == (
        staff_user,
        subscriber,
        other_subscriber,
        new,
        "Agent left",
    )


def test_reassign_respects_the_new_owners_limit(subscriber, other_subscriber, staff_user):
    other_subscriber.claim_limit = 1
    other_subscriber.save()
    a, b = CaseFactory.create_batch(2)
    services.claim_cases(user=other_subscriber, case_ids=[a.pk])
    services.claim_cases(user=subscriber, case_ids=[b.pk])
    claim = Claim.objects.get(case=b)
    with pytest.raises(services.ClaimError) as exc:
        services.claim_reassign(actor=staff_user, claim=claim, to_user=other_subscriber, reason="x")
    assert exc.value.code == "limit_reached"
    assert exc.value.message == "other@example.com has reached their claim limit of 1."
    b.refresh_from_db()
    assert b.assigned_to == subscriber and not ClaimEvent.objects.filter(action="reassigned").exists()


def test_reassign_is_staff_only(subscriber, other_subscriber):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with pytest.raises(services.ClaimError) as exc:
        services.claim_reassign(
            actor=subscriber, claim=Claim.objects.get(case=case), to_user=other_subscriber, reason="x"
        )
    assert exc.value.code == "forbidden"


def test_release_all_for_user(subscriber, other_subscriber, staff_user):
    cases = CaseFactory.create_batch(3)
    services.claim_cases(user=subscriber, case_ids=[c.pk for c in cases[:2]])
    services.claim_cases(user=other_subscriber, case_ids=[cases[2].pk])
    released = services.claims_release_all_for_user(actor=staff_user, user=subscriber, reason="Account closed")
    assert released == 2
    assert not Claim.objects.filter(user=subscriber, status="active").exists()
    assert Claim.objects.filter(user=other_subscriber, status="active").count() == 1
    assert not Case.objects.filter(assigned_to=subscriber).exists()
    events = ClaimEvent.objects.filter(action="released")
    assert sorted((e.case_id, e.actor_id, e.from_user_id, e.reason) for e in events) == [
        (c.pk, staff_user.pk, subscriber.pk, "Account closed") for c in cases[:2]
    ]


def test_release_all_refused_for_another_subscriber(subscriber, other_subscriber):
    with pytest.raises(services.ClaimError):
        services.claims_release_all_for_user(actor=other_subscriber, user=subscriber, reason="x")


def test_expiry_releases_due_claims_only_and_twice_is_harmless(subscriber, settings, mailoutbox, eager_celery):
    settings.CLAIM_MAX_DAYS = 2
    due, fresh = CaseFactory.create_batch(2)
    with time_machine.travel("2026-03-01 10:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[due.pk])
    with time_machine.travel("2026-03-02 10:00Z", tick=False):
        services.claim_cases(user=subscriber, case_ids=[fresh.pk])
    now = datetime(2026, 3, 3, 10, 30, tzinfo=UTC)
    assert services.claims_expire(now=now) == 1
    assert services.claims_expire(now=now) == 0
    claim = Claim.objects.get(case=due)
    # It ended at its expiry, not when the job ran: billing (released_at) stops there.
    expired_at = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
    assert (claim.status, claim.released_at, claim.release_reason) == ("expired", expired_at, "Expired")
    due.refresh_from_db()
    fresh.refresh_from_db()
    assert due.assigned_to is None and fresh.assigned_to == subscriber
    event = ClaimEvent.objects.get(action="expired")
    assert (event.actor, event.from_user, event.claim, event.created_at) == (None, subscriber, claim, now)


def test_expiry_leaves_a_claim_whose_expiry_staff_extended(subscriber, staff_user, settings):
    settings.CLAIM_MAX_DAYS = 1
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    claim = Claim.objects.get(case=case)
    services.claim_set_expiry(actor=staff_user, claim=claim, expires_at=timezone.now() + timedelta(days=30))
    assert services.claims_expire(now=timezone.now() + timedelta(days=2)) == 0
    claim.refresh_from_db()
    assert claim.status == "active"


def test_an_inactive_account_cannot_claim(subscriber):
    subscriber.is_active = False
    subscriber.save()
    with pytest.raises(services.ClaimError) as exc:
        services.claim_cases(user=subscriber, case_ids=[CaseFactory().pk])
    assert exc.value.code == "inactive_user" and not Claim.objects.exists()


def test_reassignment_mails_both_owners_public_fields_only(
    subscriber, other_subscriber, staff_user, mailoutbox, eager_celery, django_capture_on_commit_callbacks
):
    case = CaseFactory()
    services.claim_cases(user=subscriber, case_ids=[case.pk])
    with django_capture_on_commit_callbacks(execute=True):
        services.claim_reassign(
            actor=staff_user, claim=Claim.objects.get(case=case), to_user=other_subscriber, reason="Territory"
        )
    assert sorted(m.to[0] for m in mailoutbox) == sorted([subscriber.email, other_subscriber.email])
    for message in mailoutbox:
        assert "Territory" in message.body and case.street not in message.body


@pytest.mark.parametrize("status", Case.Status.values)
@pytest.mark.parametrize("stage", Case.Stage.values)
def test_a_single_claim_is_refused_exactly_where_the_case_takes_no_claims(subscriber, stage, status):
    """One case per claim: on PostgreSQL that is the SQL function (claims migration 0005), which names the
    unclaimable stages itself; both paths must agree with Case.is_claimable and UNCLAIMABLE_STAGES."""
    from cases.models import UNCLAIMABLE_STAGES

    case = CaseFactory(stage=stage, status=status)
    takes_claims = status == Case.Status.OPEN and stage not in UNCLAIMABLE_STAGES
    assert case.is_claimable is takes_claims
    assert Case.objects.filter(Case.claimable_now_q(), pk=case.pk).exists() is takes_claims
    result = services.claim_cases(user=subscriber, case_ids=[case.pk])
    assert outcomes(result) == {case.pk: "claimed" if takes_claims else "not_claimable"}
