"""Writes that change who owns a case: claim, release, reassign, expire.

Lock order, everywhere: the user row whose claim limit is at stake, then cases in id order. Locking only the
case stops double owners but not a user's limit (RELIABILITY.md measured 6 users over their limit with
case locks alone). The partial unique index `claim_one_active_per_case` is the backstop under all of it.

Claiming one case on PostgreSQL is one round trip: `claims_claim_case()` (migration claims 0004) runs the same
steps as `_claim_cases` below, which stays the path for bulk claims and for SQLite. Tests run both.
"""

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, Count, Exists, F, Func, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.services import TermsNotAccepted, terms_require_current
from billing.models import PricingConfig
from billing.selectors import (
    PriceQuote,
    payment_gate_annotations,
    payment_gate_cutoff,
    payment_gate_from,
    price_table_for,
    pricing_quote_for,
)
from cases.models import Case
from claims.models import Claim, ClaimEvent
from jsn.lib.busy import busy_as
from jsn.lib.postgresql.prepared import fetchone_prepared
from outbox.services import outbox_enqueue_many

logger = logging.getLogger(__name__)

MAX_CASE_IDS = 250  # one request never asks for more than the highest claim limit
CLAIM_WAIT_MS = 1000  # how long a claim waits for locked rows before "busy": answers stay within 2 s (C4)

LIMIT_REACHED = "You have reached your claim limit of {limit}. Release a case to claim another."
ALREADY_CLAIMED = "Another subscriber has already claimed this case."
ALREADY_YOURS = "You already own this case."
NOT_FOUND = "No such case."
NOT_CLAIMABLE = "This case can no longer be claimed (it is closed, sold or withdrawn)."
CLAIMED = "Claimed."
RELEASED = "Released."
NOT_CLAIMED = "This case is not claimed."
NOT_OWNER = "Only the case's owner or staff can release it."
BUSY = "The case is busy with another claim right now. Try again in a moment."
CONFLICT = "The case was claimed at the same moment by someone else."
STAFF_ONLY = "Only staff can do this."
CLAIM_NOT_ACTIVE = "This claim is no longer active."
SAME_OWNER = "The claim already belongs to {email}."
TARGET_LIMIT = "{email} has reached their claim limit of {limit}."
TARGET_INACTIVE = "{email} is not an active account."
OWNER_RELEASE_REASON = "Released by the owner"
EXPIRED_REASON = "Expired"
EXPIRY_CHANGED_REASON = "Expiry changed by staff"
EXPIRY_NOT_IN_FUTURE = "Choose an expiry in the future. To end the claim now, release it."
CLAIM_NOTICES = "claims.event_notices"  # the outbox kind of the owners' e-mails (claims.tasks sends them)


class Outcome(StrEnum):
    CLAIMED = "claimed"
    ALREADY_CLAIMED = "already_claimed"
    LIMIT_REACHED = "limit_reached"
    NOT_FOUND = "not_found"
    NOT_CLAIMABLE = "not_claimable"
    RELEASED = "released"
    NOT_CLAIMED = "not_claimed"
    NOT_OWNER = "not_owner"


class ClaimError(Exception):
    """A refused claims operation with a machine-readable code (the API's `code`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PaymentRequired(ClaimError):
    """New claims are paused until the user fixes billing (HTTP 402); held claims keep working, release too."""

    def __init__(self, code: str, message: str, fix_url: str) -> None:
        super().__init__(code, message)
        self.fix_url = fix_url


class ClaimBusyError(ClaimError):
    """A row stayed locked beyond lock_timeout. Nothing was changed; retrying later is safe."""

    def __init__(self) -> None:
        super().__init__("busy", BUSY)


@dataclass(frozen=True)
class CaseOutcome:
    case_id: int
    outcome: Outcome
    detail: str
    claim_id: int | None = None
    mine: bool = False


@dataclass
class ClaimResult:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    claims: list[Claim] = field(default_factory=list)
    active_claims: int = 0
    claim_limit: int = 0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)


@dataclass
class ReleaseResult:
    outcomes: list[CaseOutcome] = field(default_factory=list)
    events: list[ClaimEvent] = field(default_factory=list)

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome == outcome)


def claim_expires_at(*, claimed_at: datetime) -> datetime | None:
    days = settings.CLAIM_MAX_DAYS
    return claimed_at + timedelta(days=days) if days else None


def _lock_user(*, user_id: int) -> User:
    """The user row, locked until commit: serialises this user's claims so the limit check cannot race."""
    # The payment gate's facts ride on this statement (no extra round trip on the claim path).
    qs = (
        User.objects.select_for_update(of=("self",))
        .only("id", "claim_limit", "is_active", "email", "billing_active")
        .annotate(**payment_gate_annotations())
    )
    if connection.vendor == "postgresql":
        # lock_timeout counts each lock wait separately, and a row lock queue is two waits (tuple lock, then
        # the holder's transaction), so a claim could wait twice as long as intended. A local
        # statement_timeout caps every later statement of this transaction as a whole; set_config(..., true)
        # is SET LOCAL riding on this query instead of costing a round trip.
        qs = qs.annotate(
            wait_cap=Func(
                Value("statement_timeout"),
                Value(f"{CLAIM_WAIT_MS}ms"),
                Value(True),
                function="set_config",
                output_field=CharField(),
            )
        )
    return qs.get(pk=user_id)


def _active_claims_of(user_id: int) -> Subquery:
    return Coalesce(
        Subquery(
            Claim.objects.filter(user_id=user_id, status=Claim.Status.ACTIVE)
            .order_by()
            .values("user_id")
            .annotate(n=Count("id"))
            .values("n")
        ),
        0,
    )


def _memo_quotes() -> Callable[[int], PriceQuote]:
    quotes: dict[int, PriceQuote] = {}

    def quote(score: int) -> PriceQuote:
        if score not in quotes:
            quotes[score] = pricing_quote_for(score=score)
        return quotes[score]

    return quote


# Events whose notices wait for the end of a claim_notices_batched() block (None: outside one, notify at once).
_notice_batch: ContextVar[list[ClaimEvent] | None] = ContextVar("claim_notice_batch", default=None)


@contextmanager
def claim_notices_batched() -> Iterator[None]:
    """Several staff changes made together (reassigning a selection of claims) in one transaction, with one notice
    per person for all of them, as "release all" sends: not one e-mail per claim. A change refused inside (its own
    savepoint rolled back) adds nothing."""
    batch: list[ClaimEvent] = []
    token = _notice_batch.set(batch)
    try:
        with transaction.atomic():
            yield
            _notice_batch.reset(token)
            token = None
            if batch:
                _on_commit_notify(batch)
    finally:
        if token is not None:
            _notice_batch.reset(token)


def _on_commit_notify(events: Sequence[ClaimEvent]) -> None:
    """E-mails about changes someone else made to a user's claims (staff release, expiry, reassignment, a new
    expiry date set by staff).

    Promised by an outbox row in the caller's transaction and sent after commit (a Celery nudge, else Beat's
    sweep): a broker outage delays these e-mails instead of losing them, and none is sent twice. One message per
    recipient, so one failed address never re-sends another recipient's e-mail."""
    batch = _notice_batch.get()
    if batch is not None:
        batch.extend(events)
        return
    per_user: dict[int, list[int]] = {}
    for e in events:
        # Nobody is told of a change they made themselves (a staff member reassigning their own claim still tells
        # the new owner).
        if e.from_user_id and e.from_user_id != e.actor_id:
            per_user.setdefault(e.from_user_id, []).append(e.pk)
        told_to_user = e.action in (ClaimEvent.Action.REASSIGNED, ClaimEvent.Action.EXPIRY_CHANGED)
        if told_to_user and e.to_user_id and e.to_user_id != e.actor_id:
            per_user.setdefault(e.to_user_id, []).append(e.pk)
    payloads = [{"user_id": user_id, "event_ids": event_ids} for user_id, event_ids in per_user.items()]
    if payloads:
        outbox_enqueue_many(kind=CLAIM_NOTICES, payloads=payloads)


def claim_cases(*, user: User, case_ids: Sequence[int]) -> ClaimResult:
    """Claim each case for user, all-or-nothing per case; report an outcome per requested id, in request order.

    Raises ClaimError("terms_not_accepted") before the current terms are accepted, PaymentRequired
    ("payment_method_required" / "payment_past_due") while billing needs fixing, and ClaimBusyError when a
    row stays locked beyond CLAIM_WAIT_MS (nothing changed).
    """
    case_ids = list(dict.fromkeys(case_ids))
    if not user.is_active:
        raise ClaimError("inactive_user", TARGET_INACTIVE.format(email=user.email))
    try:
        terms_require_current(user=user)
    except TermsNotAccepted as exc:
        raise ClaimError(exc.code, str(exc)) from None
    claim = _claim_one_in_sql if _single_claim_in_sql(case_ids) else _claim_cases
    with busy_as(ClaimBusyError):
        try:
            return claim(user_id=user.pk, case_ids=case_ids)
        except IntegrityError:
            # Only reachable when an active claim was inserted around the services (they hold the case lock):
            # run once more; the Exists() check below now sees that claim and reports `already_claimed`.
            logger.warning("claim_cases: unique active-claim conflict, retrying once", exc_info=True)
            try:
                return claim(user_id=user.pk, case_ids=case_ids)
            except IntegrityError as exc:
                raise ClaimError("conflict", CONFLICT) from exc


def _claim_cases(*, user_id: int, case_ids: list[int]) -> ClaimResult:
    now = timezone.now()
    quote = _memo_quotes()
    with transaction.atomic():
        user = _lock_user(user_id=user_id)  # query 1: lock the user first
        gate = payment_gate_from(user=user)  # refuses the whole request (402), whatever the cases
        if gate is not None:
            raise PaymentRequired(gate.code, gate.detail, gate.fix_url)
        # Query 2: lock the cases in id order (no deadlocks between bulk claims). The same statement counts
        # the user's active claims: it starts after the user lock was granted, so its snapshot already holds
        # every claim this user committed before us, and no new one can appear while we hold the lock.
        cases = list(
            Case.objects.select_for_update(of=("self",))
            .filter(pk__in=case_ids)
            # The public location fields and street ride along so the API can answer without re-reading.
            .only("id", "score", "status", "stage", "assigned_to_id", "county", "state", "city", "zip_code", "street")
            .annotate(
                active_claims=_active_claims_of(user.pk),
                has_active_claim=Exists(Claim.objects.filter(case_id=OuterRef("pk"), status=Claim.Status.ACTIVE)),
            )
            .order_by("pk")
        )
        by_id = {case.pk: case for case in cases}
        active = cases[0].active_claims if cases else Claim.objects.filter(user=user, status="active").count()
        remaining = user.claim_limit - active
        to_claim: list[Case] = []
        outcomes: dict[int, CaseOutcome] = {}
        # Locked in id order above; the limit is then filled in the order the request names the cases (the order
        # the subscriber saw them in, e.g. best score first), not by id.
        for case_id in case_ids:
            case = by_id.get(case_id)
            if case is None:
                outcomes[case_id] = CaseOutcome(case_id, Outcome.NOT_FOUND, NOT_FOUND)
            elif case.assigned_to_id == user.pk:
                outcomes[case_id] = CaseOutcome(case_id, Outcome.ALREADY_CLAIMED, ALREADY_YOURS, mine=True)
            elif case.assigned_to_id is not None or case.has_active_claim:
                outcomes[case_id] = CaseOutcome(case_id, Outcome.ALREADY_CLAIMED, ALREADY_CLAIMED)
            elif not case.is_claimable:
                outcomes[case_id] = CaseOutcome(case_id, Outcome.NOT_CLAIMABLE, NOT_CLAIMABLE)
            elif remaining <= 0:
                detail = LIMIT_REACHED.format(limit=user.claim_limit)
                outcomes[case_id] = CaseOutcome(case_id, Outcome.LIMIT_REACHED, detail)
            else:
                to_claim.append(case)
                remaining -= 1
        claims: list[Claim] = []
        if to_claim:
            expires_at = claim_expires_at(claimed_at=now)
            for case in to_claim:
                price = quote(case.score)  # query 3 (billing's seam; memoised per score within this call)
                claims.append(
                    Claim(
                        case_id=case.pk,
                        user_id=user.pk,
                        claimed_at=now,
                        expires_at=expires_at,
                        score_at_claim=case.score,
                        daily_price_cents=price.daily_price_cents,
                        currency=price.currency,
                        pricing_version=price.pricing_version,
                    )
                )
            Claim.objects.bulk_create(claims)  # query 4
            Case.objects.filter(pk__in=[c.pk for c in to_claim]).update(  # query 5: cases.assigned_to in step
                assigned_to_id=user.pk, assigned_at=now
            )
            ClaimEvent.objects.bulk_create(  # query 6: the audit rows, same transaction
                ClaimEvent(
                    action=ClaimEvent.Action.CLAIMED,
                    actor_id=user.pk,
                    case_id=claim.case_id,
                    claim=claim,
                    to_user_id=user.pk,
                    created_at=now,
                )
                for claim in claims
            )
            for claim, case in zip(claims, to_claim, strict=True):
                case.assigned_to_id, case.assigned_at = user.pk, now  # in step with the row just updated
                claim.case = case
                outcomes[claim.case_id] = CaseOutcome(claim.case_id, Outcome.CLAIMED, CLAIMED, claim.pk, mine=True)
    return ClaimResult(
        outcomes=[outcomes[case_id] for case_id in case_ids],
        claims=claims,
        active_claims=active + len(claims),
        claim_limit=user.claim_limit,
    )


def _single_claim_in_sql(case_ids: Sequence[int]) -> bool:
    """One case on PostgreSQL: the whole claim is one round trip (migration claims 0004). Bulk claims, and every
    claim on SQLite, take the ORM path below; both keep the same locks, order, outcomes and errors."""
    return len(case_ids) == 1 and connection.vendor == "postgresql"


# The function's name, so a test can point the service at a deliberately broken copy (C1 without the user lock).
CLAIM_CASE_FUNCTION = "claims_claim_case"
_CLAIM_ONE_SQL = (
    "SELECT * FROM {function}(%s::bigint, %s::bigint, %s::timestamptz, %s::timestamptz, %s::date, %s::boolean,"
    " %s::boolean, %s::bigint, %s::integer[], %s::integer, %s::text)"
)
_SQL_OUTCOMES = {
    "not_found": (Outcome.NOT_FOUND, NOT_FOUND, False),
    "already_mine": (Outcome.ALREADY_CLAIMED, ALREADY_YOURS, True),
    "already_claimed": (Outcome.ALREADY_CLAIMED, ALREADY_CLAIMED, False),
    "not_claimable": (Outcome.NOT_CLAIMABLE, NOT_CLAIMABLE, False),
}
# The pricing version (config id) active at this process's last claim, and its prices as an array literal.
_pricing_guess: list[tuple[int | None, str | None]] = [(None, None)]


def _pricing_for(config_id: int | None) -> tuple[int | None, str | None]:
    if config_id is None:
        return None, None
    try:
        prices = price_table_for(config_id=config_id)
    except PricingConfig.DoesNotExist:  # gone since (only a test database loses versions): guess "none"
        return None, None
    return config_id, "{" + ",".join(map(str, prices)) + "}"


class _GateFacts:
    """The payment gate's facts as the claim function read them under the user lock, for payment_gate_from."""

    def __init__(self, *, billing_active: bool, gate_overdue: str | None, gate_has_card: bool | None) -> None:
        self.billing_active = billing_active
        self.gate_overdue = gate_overdue
        if gate_has_card is not None:  # None: Stripe is off, no card is needed (payment_gate_annotations)
            self.gate_has_card = gate_has_card


def _claim_one_in_sql(*, user_id: int, case_ids: list[int]) -> ClaimResult:
    """`_claim_cases` for one case as one PostgreSQL function call (claims_claim_case): the same locks in the same
    order (user, then case), the same decisions and writes, in one round trip instead of eight. When another
    transaction holds the case, the function writes nothing and the ORM path below queues for it (CLAIM_WAIT_MS)."""
    from billing import stripe_gateway

    (case_id,) = case_ids
    now = timezone.now()
    check_card = stripe_gateway.is_enabled()
    sql = _CLAIM_ONE_SQL.format(function=CLAIM_CASE_FUNCTION)
    expires_at = claim_expires_at(claimed_at=now)
    gate_cutoff = payment_gate_cutoff()
    for _attempt in range(2):
        pricing_id, prices = _pricing_guess[0]
        params = [
            user_id,
            case_id,
            now,
            expires_at,
            gate_cutoff,
            check_card,
            settings.STRIPE_LIVE_MODE,
            pricing_id,
            prices,
            settings.DEFAULT_DAILY_PRICE_CENTS,
            settings.DEFAULT_CURRENCY,
        ]
        # One statement: outside a transaction it is its own, committed when the function returns. Inside a
        # caller's transaction, a savepoint, so an error undoes the call alone.
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            row = fetchone_prepared(sql, params)
        (outcome, claim_id, active, limit, billing_active, overdue, has_card, active_pricing_id, price, currency,
         version, score, status, stage, _owner_id, state, county, city, zip_code, street) = row  # fmt: skip
        if outcome != "reprice":
            break
        _pricing_guess[0] = _pricing_for(active_pricing_id)  # another version is active now: price with it, again
    else:
        return _claim_cases(user_id=user_id, case_ids=case_ids)  # pricing changed twice in a row: the ORM path
    if outcome == "case_busy":  # another transaction holds the case: the ORM path queues for it under its cap
        return _claim_cases(user_id=user_id, case_ids=case_ids)
    if outcome == "no_user":
        raise User.DoesNotExist(f"User {user_id} does not exist.")
    if outcome == "payment_required":
        gate = payment_gate_from(
            user=_GateFacts(billing_active=billing_active, gate_overdue=overdue, gate_has_card=has_card)
        )
        if gate is None:  # cannot happen while the function mirrors payment_gate_from; never claim past a gate
            raise RuntimeError("claims_claim_case refused a payment gate that billing.selectors would not.")
        raise PaymentRequired(gate.code, gate.detail, gate.fix_url)
    claims: list[Claim] = []
    if outcome == "claimed":
        case = Case(
            id=case_id, score=score, status=status, stage=stage, assigned_to_id=user_id, assigned_at=now,
            state=state, county=county, city=city, zip_code=zip_code, street=street,
        )  # fmt: skip
        claim = Claim(
            id=claim_id, case_id=case_id, user_id=user_id, status=Claim.Status.ACTIVE, claimed_at=now,
            expires_at=expires_at, score_at_claim=score, daily_price_cents=price, currency=currency,
            pricing_version=version,
        )  # fmt: skip
        claim.case = case
        claims.append(claim)
        result = CaseOutcome(case_id, Outcome.CLAIMED, CLAIMED, claim_id, mine=True)
    elif outcome == "limit_reached":
        result = CaseOutcome(case_id, Outcome.LIMIT_REACHED, LIMIT_REACHED.format(limit=limit))
    else:
        code, detail, mine = _SQL_OUTCOMES[outcome]
        result = CaseOutcome(case_id, code, detail, mine=mine)
    return ClaimResult(outcomes=[result], claims=claims, active_claims=active, claim_limit=limit)


def _release_locked(
    *, actor: User | None, case_ids: Iterable[int], reason: str, now: datetime, status: str = Claim.Status.RELEASED
) -> ReleaseResult:
    """Release inside the caller's transaction: lock the cases in id order, then end their active claims.

    actor None is the system (expiry): allowed, and recorded as an event without an actor."""
    case_ids = list(dict.fromkeys(case_ids))
    locked = set(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk").values_list("pk", flat=True))
    claims = {
        c.case_id: c
        for c in Claim.objects.filter(case_id__in=locked, status=Claim.Status.ACTIVE).only("id", "case_id", "user_id")
    }
    outcomes: dict[int, CaseOutcome] = {}
    releasing: list[Claim] = []
    for case_id in case_ids:
        claim = claims.get(case_id)
        if case_id not in locked:
            outcomes[case_id] = CaseOutcome(case_id, Outcome.NOT_FOUND, NOT_FOUND)
        elif claim is None:
            outcomes[case_id] = CaseOutcome(case_id, Outcome.NOT_CLAIMED, NOT_CLAIMED)
        elif actor is not None and claim.user_id != actor.pk and not actor.is_staff:
            outcomes[case_id] = CaseOutcome(case_id, Outcome.NOT_OWNER, NOT_OWNER)
        else:
            releasing.append(claim)
            outcomes[case_id] = CaseOutcome(case_id, Outcome.RELEASED, RELEASED, claim.pk)
    events: list[ClaimEvent] = []
    if releasing:
        ids = [c.pk for c in releasing]
        # Compare-and-set on status: with the case rows locked this always matches, but never un-ends a claim.
        # An expired claim ended at its expiry, not when the job noticed: billing (which reads released_at) stops
        # there, so a claim expiring at 23:30 and ended by the job at 00:01 is not billed for the new day.
        ended_at = F("expires_at") if status == Claim.Status.EXPIRED else now
        Claim.objects.filter(pk__in=ids, status=Claim.Status.ACTIVE).update(
            status=status, released_at=ended_at, release_reason=reason[:200]
        )
        Case.objects.filter(pk__in=[c.case_id for c in releasing]).update(assigned_to=None, assigned_at=None)
        action = ClaimEvent.Action.EXPIRED if status == Claim.Status.EXPIRED else ClaimEvent.Action.RELEASED
        events = ClaimEvent.objects.bulk_create(
            ClaimEvent(
                action=action,
                actor_id=actor.pk if actor is not None else None,
                case_id=c.case_id,
                claim_id=c.pk,
                from_user_id=c.user_id,
                reason=reason[:200],
                created_at=now,
            )
            for c in releasing
        )
        _on_commit_notify(events)
    return ReleaseResult(outcomes=[outcomes[i] for i in case_ids], events=events)


def claim_release(*, actor: User, case_ids: Sequence[int], reason: str = "") -> ReleaseResult:
    """End the active claims on these cases. The owner or staff may; the per-case outcome says what happened."""
    reason = reason.strip() or (OWNER_RELEASE_REASON if not actor.is_staff else f"Released by staff ({actor.email})")
    with busy_as(ClaimBusyError), transaction.atomic():
        return _release_locked(actor=actor, case_ids=case_ids, reason=reason, now=timezone.now())


def claim_reassign(*, actor: User, claim: Claim, to_user: User, reason: str) -> Claim:
    """Staff move an active claim to another user. The new owner's price is frozen anew; their limit holds."""
    if not (actor.is_active and actor.is_staff):
        raise ClaimError("forbidden", STAFF_ONLY)
    now = timezone.now()
    with busy_as(ClaimBusyError), transaction.atomic():
        target = _lock_user(user_id=to_user.pk)  # the user whose limit grows, first
        if not target.is_active:
            raise ClaimError("inactive_user", TARGET_INACTIVE.format(email=target.email))
        case = Case.objects.select_for_update().only("id", "score").get(pk=claim.case_id)
        old = Claim.objects.select_for_update().get(pk=claim.pk)
        if old.status != Claim.Status.ACTIVE:
            raise ClaimError("not_active", CLAIM_NOT_ACTIVE)
        if old.user_id == target.pk:
            raise ClaimError("same_owner", SAME_OWNER.format(email=target.email))
        active = Claim.objects.filter(user_id=target.pk, status=Claim.Status.ACTIVE).count()
        if active >= target.claim_limit:
            raise ClaimError("limit_reached", TARGET_LIMIT.format(email=target.email, limit=target.claim_limit))
        reason = reason.strip()[:200]
        Claim.objects.filter(pk=old.pk, status=Claim.Status.ACTIVE).update(
            status=Claim.Status.REASSIGNED, released_at=now, release_reason=reason
        )
        price = pricing_quote_for(score=case.score)
        new = Claim.objects.create(
            case_id=case.pk,
            user_id=target.pk,
            claimed_at=now,
            expires_at=claim_expires_at(claimed_at=now),
            score_at_claim=case.score,
            daily_price_cents=price.daily_price_cents,
            currency=price.currency,
            pricing_version=price.pricing_version,
        )
        Case.objects.filter(pk=case.pk).update(assigned_to_id=target.pk, assigned_at=now)
        event = ClaimEvent.objects.create(
            action=ClaimEvent.Action.REASSIGNED,
            actor=actor,
            case_id=case.pk,
            claim=new,
            from_user_id=old.user_id,
            to_user_id=target.pk,
            reason=reason,
            created_at=now,
        )
        _on_commit_notify([event])
        return new


def claim_set_expiry(*, actor: User, claim: Claim, expires_at: datetime | None, reason: str = "") -> bool:
    """Staff set one active claim's expiry (None: never expires), audited: an `expiry_changed` event with the expiry
    before and after, in the same transaction. The owner is e-mailed the new date after commit (outbox), and a new
    expiry gets a new warning the day before. False when the claim is no longer active (nothing changed); setting
    the expiry it already has changes nothing and writes no event."""
    if not (actor.is_active and actor.is_staff):
        raise ClaimError("forbidden", STAFF_ONLY)
    if expires_at is not None and expires_at <= timezone.now():
        # It would leave the owner holding a claim that has ended until the expiry job runs.
        raise ClaimError("expiry_not_in_future", EXPIRY_NOT_IN_FUTURE)
    reason = reason.strip()[:200] or EXPIRY_CHANGED_REASON
    with busy_as(ClaimBusyError), transaction.atomic():
        # The case first, as every release and reassignment locks it: the claim cannot end meanwhile.
        Case.objects.select_for_update().filter(pk=claim.case_id).values_list("pk", flat=True).first()
        current = (
            Claim.objects.select_for_update()
            .filter(pk=claim.pk, status=Claim.Status.ACTIVE)
            .only("id", "case_id", "user_id", "expires_at")
            .first()
        )
        if current is None:
            return False
        if current.expires_at == expires_at:
            return True
        Claim.objects.filter(pk=current.pk).update(expires_at=expires_at, expiry_warned_for=None)
        event = ClaimEvent.objects.create(
            action=ClaimEvent.Action.EXPIRY_CHANGED,
            actor=actor,
            case_id=current.case_id,
            claim_id=current.pk,
            to_user_id=current.user_id,
            reason=reason,
            expires_before=current.expires_at,
            expires_after=expires_at,
            created_at=timezone.now(),
        )
        _on_commit_notify([event])  # the owner hears of the new date (not of their own change)
        return True


def claims_expire(*, now: datetime, batch_size: int = 500) -> int:
    """End every active claim whose expiry has passed. Two runs at once are harmless: each batch locks its
    cases in id order and re-selects under the lock, so the second run finds nothing left to expire."""
    expired = 0
    while True:
        case_ids = list(
            Claim.objects.filter(status=Claim.Status.ACTIVE, expires_at__lte=now)
            .order_by("case_id")
            .values_list("case_id", flat=True)[:batch_size]
        )
        if not case_ids:
            return expired
        with transaction.atomic():
            list(Case.objects.select_for_update().filter(pk__in=case_ids).order_by("pk").values_list("pk", flat=True))
            # Re-select under the case locks: a claim released or re-dated meanwhile is left alone.
            still_due = list(
                Claim.objects.filter(case_id__in=case_ids, status=Claim.Status.ACTIVE, expires_at__lte=now).values_list(
                    "case_id", flat=True
                )
            )
            result = _release_locked(
                actor=None, case_ids=still_due, reason=EXPIRED_REASON, now=now, status=Claim.Status.EXPIRED
            )
        expired += result.count(Outcome.RELEASED)
        if len(case_ids) < batch_size:
            return expired


def claims_release_all_for_user(*, actor: User, user: User, reason: str) -> int:
    """Release every active claim of user (staff action; also used before closing an account)."""
    if actor.pk != user.pk and not (actor.is_active and actor.is_staff):
        raise ClaimError("forbidden", STAFF_ONLY)
    with busy_as(ClaimBusyError), transaction.atomic():
        _lock_user(user_id=user.pk)  # no new claim for this user slips in while we release
        case_ids = list(
            Claim.objects.filter(user_id=user.pk, status=Claim.Status.ACTIVE)
            .order_by("case_id")
            .values_list("case_id", flat=True)
        )
        result = _release_locked(
            actor=actor, case_ids=case_ids, reason=reason.strip() or "Released all claims", now=timezone.now()
        )
        return result.count(Outcome.RELEASED)


def claims_warn_expiring(*, now: datetime) -> list[tuple[int, list[int]]]:
    """Mark claims expiring before the end of tomorrow (BILLING_TIME_ZONE) as warned, once per expiry value.

    Returns (user id, claim ids) to e-mail. Marking is compare-and-set under row locks, so two runs at once
    warn each claim once; a send that fails is un-marked by `claims_unmark_warned` so the next run retries.
    """
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(settings.BILLING_TIME_ZONE)
    local_today = timezone.localtime(now, tz).date()
    horizon = datetime.combine(local_today + timedelta(days=2), datetime.min.time(), tzinfo=tz)
    due = (
        Claim.objects.filter(status=Claim.Status.ACTIVE, expires_at__gt=now, expires_at__lt=horizon)
        .exclude(expiry_warned_for=F("expires_at"))
        .order_by("user_id", "id")
    )
    by_user: dict[int, list[int]] = {}
    for user_id, claim_id in due.values_list("user_id", "id"):
        by_user.setdefault(user_id, []).append(claim_id)
    batches: list[tuple[int, list[int]]] = []
    for user_id, claim_ids in by_user.items():
        with transaction.atomic():
            locked = list(
                Claim.objects.select_for_update()
                .filter(pk__in=claim_ids, status=Claim.Status.ACTIVE, expires_at__gt=now, expires_at__lt=horizon)
                .exclude(expiry_warned_for=F("expires_at"))
                .values_list("id", flat=True)
            )
            if locked:
                Claim.objects.filter(pk__in=locked).update(expiry_warned_for=F("expires_at"))
                batches.append((user_id, locked))
    return batches


def claims_unmark_warned(*, claim_ids: Sequence[int]) -> None:
    Claim.objects.filter(pk__in=claim_ids).update(expiry_warned_for=None)


__all__ = [
    "MAX_CASE_IDS",
    "CaseOutcome",
    "ClaimBusyError",
    "ClaimError",
    "ClaimResult",
    "Outcome",
    "ReleaseResult",
    "claim_cases",
    "claim_notices_batched",
    "claim_reassign",
    "claim_release",
    "claim_set_expiry",
    "claims_expire",
    "claims_release_all_for_user",
    "claims_unmark_warned",
    "claims_warn_expiring",
]
