"""Billing writes: the daily ledger job, invoice status changes, pricing versions."""

import contextlib
import logging
import os
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Max, OuterRef, Q, Subquery
from django.utils import timezone

from accounts.models import User
from billing import ledger, pricing, stripe_gateway
from billing.errors import (  # noqa: F401  (re-exported: the adapters catch them as services.<Error>)
    BillingError,
    DayNotReady,
    InvoiceBusy,
    InvoiceTransitionRefused,
    StripeActionError,
)
from billing.invoice_status import (  # noqa: F401  (re-exported: staff status changes live there)
    STAFF_TRANSITIONS,
    invoice_mark_failed,
    invoice_mark_paid,
    invoice_set_status,
    invoice_void,
)
from billing.models import (
    BillingCursor,
    BillingRun,
    BillingRunFailure,
    Invoice,
    InvoiceEvent,
    InvoiceLine,
    PricingConfig,
)
from claims.models import Claim
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

# Test hook for B2: JSN_BILLING_CRASH_AT=<point>[:<n>] kills the process (no cleanup, like SIGKILL) the n-th time
# the job reaches <point>. Unset in production; reading an env var costs nothing.
CRASH_ENV = "JSN_BILLING_CRASH_AT"
CRASH_POINTS = (
    "run_started",
    "batch_locked",
    "lines_computed",
    "invoices_inserted",
    "lines_inserted",
    "batch_committed",
)
_crash_hits: dict[str, int] = defaultdict(int)

BATCH_SIZE_ENV = "JSN_BILLING_BATCH_SIZE"
DEFAULT_BATCH_SIZE = 500
DEFAULT_LOOKBACK_DAYS = 35
# Namespace of our advisory locks (pg_try_advisory_xact_lock(namespace, user_id)): "JSNB".
ADVISORY_LOCK_NAMESPACE = 0x4A534E42

ERR_MIXED_CURRENCY = "Claims in more than one currency on {day}: {currencies}. One invoice has one currency."
ERR_NOT_READY = "{day} cannot be billed yet: it (and the grace period after it) has not ended."
ERR_REASON_REQUIRED = "A reason is required."
ERR_NOT_A_CHARGE = "Only a charge line can be credited, once."
ERR_NO_LATER_INVOICE = "There is no later open invoice for this user to carry the credit; try again after the next run."
ERR_CURRENCY_SWITCH = (
    "{n} claim(s) priced in {old} still have days to bill: a day's invoice holds one currency, so switching to "
    "{new} now would stop their billing. Keep {old}, or switch once those claims have ended and been billed."
)


def _crash_point(name: str) -> None:
    spec = os.environ.get(CRASH_ENV)
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _crash_hits[name] += 1
    if _crash_hits[name] >= int(nth or 1):
        os._exit(77)


def billing_time_zone() -> ZoneInfo:
    return ZoneInfo(settings.BILLING_TIME_ZONE)


def billing_today() -> date:
    return timezone.now().astimezone(billing_time_zone()).date()


def claim_grace() -> timedelta:
    """CLAIM_GRACE_MINUTES: a claim released within it is never billed."""
    return timedelta(minutes=settings.CLAIM_GRACE_MINUTES)


def claim_spans(
    *, user_ids: list[int], first: date, last: date, tz: ZoneInfo
) -> defaultdict[int, list[ledger.ClaimSpan]]:
    """The users' claims active at some moment of [first, last], as the ledger reads them, per user."""
    spans: defaultdict[int, list[ledger.ClaimSpan]] = defaultdict(list)
    rows = (
        Claim.objects.filter(user_id__in=user_ids)
        .filter(_claims_overlapping(first, last, tz))
        .values_list(
            "user_id",
            "id",
            "case_id",
            "claimed_at",
            "released_at",
            "daily_price_cents",
            "currency",
            "score_at_claim",
            "case__case_number",
        )
        .order_by()
    )
    for user_id, *values in rows.iterator(chunk_size=5000):
        spans[user_id].append(ledger.ClaimSpan(*values))
    return spans


@dataclass
class BillingSummary:
    first_day: date
    last_day: date
    dry_run: bool
    run_id: int | None = None
    users: int = 0
    invoices: int = 0
    lines: int = 0
    totals: dict[str, int] = field(default_factory=dict)
    skipped_locked: int = 0
    failures: list[tuple[int, str]] = field(default_factory=list)

    def add(self, other: "BillingSummary") -> None:
        self.users += other.users
        self.invoices += other.invoices
        self.lines += other.lines
        self.skipped_locked += other.skipped_locked
        self.failures += other.failures
        for currency, cents in other.totals.items():
            self.totals[currency] = self.totals.get(currency, 0) + cents


@dataclass
class _Plan:
    """What one batch will write (computed before any insert, so totals equal the lines by construction)."""

    invoices: list[Invoice] = field(default_factory=list)
    lines: list[list[tuple]] = field(default_factory=list)  # per invoice, in _LINE_COLUMNS order (after invoice_id)
    cursors: list[BillingCursor] = field(default_factory=list)


def _batched(iterable: Iterable[int], size: int) -> Iterator[list[int]]:
    it = iter(iterable)
    while chunk := list(islice(it, size)):
        yield chunk


def _claims_overlapping(first: date, last: date, tz: ZoneInfo) -> Q:
    start = ledger.day_start(first, tz)
    end = ledger.day_start(last + ledger.ONE_DAY, tz)
    return Q(claimed_at__lt=end) & (Q(released_at__isnull=True) | Q(released_at__gt=start))


def _lock_users(user_ids: list[int]) -> list[int]:
    """Take this transaction's advisory lock on each user another run is not billing right now; skip the rest.

    Two runs for the same day then split the users between them instead of queueing on each other (and the
    unique (user, day) constraint still stands behind it). No-op on SQLite, whose writers are serialised anyway.
    """
    if connection.vendor != "postgresql":
        return user_ids
    with connection.cursor() as cur:
        cur.execute(
            "SELECT u FROM unnest(%s::bigint[]) AS u WHERE pg_try_advisory_xact_lock(%s, u::int) ORDER BY u",
            [user_ids, ADVISORY_LOCK_NAMESPACE],
        )
        return [row[0] for row in cur.fetchall()]


@dataclass(frozen=True)
class _Window:
    first: date
    last: date
    today: date
    tz: ZoneInfo
    cursor_floor: date  # a user's first cursor is set only by a run whose window starts on or before this day
    move_cursor: bool = True


def _plan_batch(user_ids: list[int], *, window: "_Window", run: BillingRun | None) -> tuple[_Plan, BillingSummary]:
    first, last, tz, today = window.first, window.last, window.tz, window.today
    cursor_floor, move_cursor = window.cursor_floor, window.move_cursor
    summary = BillingSummary(first_day=first, last_day=last, dry_run=run is None)
    plan = _Plan()
    active = dict(User.objects.filter(pk__in=user_ids).values_list("pk", "billing_active"))
    cursors = dict(BillingCursor.objects.filter(user_id__in=user_ids).values_list("user_id", "processed_through"))
    billed = set(
        Invoice.objects.filter(user_id__in=user_ids, invoice_date__range=(first, last)).values_list(
            "user_id", "invoice_date"
        )
    )
    billable_users = [uid for uid in user_ids if active.get(uid)]
    spans = claim_spans(user_ids=billable_users, first=first, last=last, tz=tz)

    for user_id in user_ids:
        if user_id not in active:
            continue  # deleted meanwhile
        cursor = cursors.get(user_id)
        start = first if cursor is None else max(first, cursor + ledger.ONE_DAY)
        if start > last:
            continue
        # Only a contiguous range moves the cursor: billing one later day must not mark the days between done.
        # A first cursor needs a range reaching back at least as far as a default run would have read.
        contiguous = first <= cursor + ledger.ONE_DAY if cursor is not None else first <= cursor_floor
        if move_cursor and contiguous:
            plan.cursors.append(BillingCursor(user_id=user_id, processed_through=last))
        if not active[user_id]:
            continue  # billing off: the days pass, deliberately unbilled
        by_day: dict[date, list[ledger.BillableDay]] = defaultdict(list)
        for item in ledger.billable_days(spans.get(user_id, ()), tz=tz, grace=claim_grace(), first=start, last=last):
            if (user_id, item.day) not in billed:
                by_day[item.day].append(item)
        if by_day:
            summary.users += 1
        for day, items in sorted(by_day.items()):
            currencies = sorted({i.span.currency for i in items})
            if len(currencies) > 1:
                raise BillingError(ERR_MIXED_CURRENCY.format(day=day, currencies=", ".join(currencies)))
            subtotal = sum(i.span.price_cents for i in items)
            invoice = Invoice(
                user_id=user_id,
                invoice_date=day,
                number=invoice_number(user_id=user_id, day=day),
                currency=currencies[0],
                subtotal_cents=subtotal,
                tax_cents=0,
                total_cents=subtotal,
                status=Invoice.Status.OPEN,
                due_date=max(day + ledger.ONE_DAY, today),
                billing_run=run,
            )
            lines = [
                (
                    i.span.claim_id,
                    i.span.case_id,
                    i.span.case_number,
                    # No case number: descriptions reach Stripe's hosted invoices and outlive the claim.
                    f"Exclusive access to case #{i.span.case_id} on {day:%Y-%m-%d}",
                    day,
                    1,
                    i.span.price_cents,
                    i.span.price_cents,
                    i.span.score,
                )
                for i in items
            ]
            plan.invoices.append(invoice)
            plan.lines.append(lines)
            summary.invoices += 1
            summary.lines += len(lines)
            summary.totals[invoice.currency] = summary.totals.get(invoice.currency, 0) + subtotal
    return plan, summary


def invoice_number(*, user_id: int, day: date) -> str:
    """Deterministic, so the number is as unique as (user, day) itself."""
    return f"JSN-{day:%Y%m%d}-{user_id:07d}"


def _bill_batch(user_ids: list[int], *, window: _Window, run: BillingRun | None) -> BillingSummary:
    """Bill these users for the window's days in one transaction, with a fixed number of queries per batch."""
    if run is None:  # dry run: read only
        return _plan_batch(user_ids, window=window, run=None)[1]
    with transaction.atomic():
        locked = _lock_users(user_ids)
        _crash_point("batch_locked")
        plan, summary = _plan_batch(locked, window=window, run=run)
        summary.skipped_locked = len(user_ids) - len(locked)
        _crash_point("lines_computed")
        Invoice.objects.bulk_create(plan.invoices)  # ids come back (RETURNING) on PostgreSQL and SQLite ≥ 3.35
        _crash_point("invoices_inserted")
        _insert_lines(plan)
        _crash_point("lines_inserted")
        if plan.cursors:
            BillingCursor.objects.bulk_create(
                plan.cursors, update_conflicts=True, unique_fields=["user"], update_fields=["processed_through"]
            )
    _crash_point("batch_committed")
    return summary


_LINE_COLUMNS = (
    "invoice_id",
    "claim_id",
    "case_id",
    "case_number",
    "description",
    "service_date",
    "quantity",
    "unit_amount_cents",
    "amount_cents",
    "score",
)


def _insert_lines(plan: _Plan) -> None:
    """Write the batch's lines. On PostgreSQL through COPY: the same rows, constraints and triggers as an INSERT,
    without building a model instance per line (measured: the ORM path was most of the job's time)."""
    rows = (
        (invoice.pk, *line)
        for invoice, invoice_lines in zip(plan.invoices, plan.lines, strict=True)
        for line in invoice_lines
    )
    if connection.vendor == "postgresql":
        now = timezone.now()
        columns = ", ".join((*_LINE_COLUMNS, "created_at"))
        with connection.cursor() as cur, cur.cursor.copy(f"COPY billing_invoiceline ({columns}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row((*row, now))
        return
    InvoiceLine.objects.bulk_create(
        (InvoiceLine(**dict(zip(_LINE_COLUMNS, row, strict=True))) for row in rows), batch_size=2000
    )


def _bill_one_user(user_id: int, *, window: _Window, run: BillingRun | None) -> BillingSummary:
    """The slow path after a batch failed: this user alone, its failure recorded and contained."""
    first, last = window.first, window.last
    try:
        return _bill_batch([user_id], window=window, run=run)
    except IntegrityError:
        # Another run (SQLite has no advisory locks) billed this user meanwhile: skip, the constraint did its job.
        logger.info("billing: user %s billed concurrently for %s–%s; skipped", user_id, first, last)
        return BillingSummary(first_day=first, last_day=last, dry_run=run is None, skipped_locked=1)
    except Exception as exc:
        logger.exception("billing: user %s failed for %s–%s", user_id, first, last)
        summary = BillingSummary(first_day=first, last_day=last, dry_run=run is None)
        error = f"{type(exc).__name__}: {exc}"
        summary.failures.append((user_id, error))
        if run is not None:
            BillingRunFailure.objects.create(run=run, user_id=user_id, error=error + "\n" + traceback.format_exc())
        return summary


def billing_window(*, up_to: date | None, since: date | None, move_cursor: bool = True) -> _Window:
    """The days a run covers: everything before up_to that has ended (with its grace period), back to `since`
    or the lookback (BILLING_LOOKBACK_DAYS, default 35) — further back only for users who were never billed."""
    tz = billing_time_zone()
    now = timezone.now()
    today = now.astimezone(tz).date()
    up_to = up_to or today
    ready = ledger.last_ready_day(now, tz=tz, grace=claim_grace())
    last = min(up_to - ledger.ONE_DAY, ready)
    lookback = getattr(settings, "BILLING_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS)
    default_first = ready - timedelta(days=lookback - 1)
    first = since if since is not None else last - timedelta(days=lookback - 1)
    return _Window(first=first, last=last, today=today, tz=tz, cursor_floor=default_first, move_cursor=move_cursor)


def billing_candidates(*, first: date, last: date, user_id: int | None = None) -> "Iterable[int]":
    """Ids of users with a claim active at some moment in [first, last], ascending (a queryset, streamable)."""
    qs = Claim.objects.filter(_claims_overlapping(first, last, billing_time_zone()))
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return qs.order_by("user_id").values_list("user_id", flat=True).distinct()


def billing_run(
    *,
    up_to: date | None = None,
    since: date | None = None,
    user_id: int | None = None,
    dry_run: bool = False,
    trigger: str = BillingRun.Trigger.SERVICE,
    progress: Callable[[int], None] | None = None,
    batch_size: int | None = None,
    stripe: bool = True,
) -> BillingSummary:
    """Bill every unbilled (user, day) before `up_to` (default: today in BILLING_TIME_ZONE).

    Safe to run twice, concurrently, or after missed days: each (user, day) gets at most one invoice (a database
    constraint), and a later run picks up whatever an earlier one did not finish. A user whose billing fails is
    recorded in BillingRunFailure and retried next run; the others are billed regardless. With `stripe` (and
    Stripe configured) one outbox message (billing.stripe_sync.STRIPE_SYNC) sends the open invoices to Stripe after
    the run.
    """
    window = billing_window(up_to=up_to, since=since)
    first, last = window.first, window.last
    summary = BillingSummary(first_day=first, last_day=last, dry_run=dry_run)
    if first > last:
        return summary
    batch_size = batch_size or int(os.environ.get(BATCH_SIZE_ENV) or DEFAULT_BATCH_SIZE)
    run = None
    if not dry_run:
        run = BillingRun.objects.create(trigger=trigger, first_day=first, last_day=last)
        summary.run_id = run.pk
    _crash_point("run_started")
    candidates = billing_candidates(first=first, last=last, user_id=user_id).iterator(chunk_size=batch_size * 4)
    for user_ids in _batched(candidates, batch_size):
        try:
            part = _bill_batch(user_ids, window=window, run=run)
        except Exception:
            # One bad user must not cost the others their bill: redo this batch one user at a time.
            logger.warning("billing: batch of %s users failed; retrying one by one", len(user_ids), exc_info=True)
            part = BillingSummary(first_day=first, last_day=last, dry_run=dry_run)
            for uid in user_ids:
                part.add(_bill_one_user(uid, window=window, run=run))
        summary.add(part)
        if progress:
            progress(len(user_ids))
    if run is not None:
        with transaction.atomic():
            BillingRun.objects.filter(pk=run.pk).update(
                finished_at=timezone.now(),
                users=summary.users,
                invoices=summary.invoices,
                lines=summary.lines,
                totals=summary.totals,
                failures=len(summary.failures),
            )
            if stripe and stripe_gateway.is_enabled() and (summary.invoices or invoices_stripe_sync_due()):
                # Promised in the run's last transaction, delivered by the outbox (nudged after commit, else Beat's
                # sweep): a broker outage now delays the sync instead of leaving the invoices for tomorrow's run.
                # One message walks every unsent invoice (batch), not one per invoice; also after a run that
                # found nothing new while an earlier (crashed) run's invoices still wait.
                outbox_enqueue(kind=STRIPE_SYNC, payload={"run_id": run.pk})
    return summary


def billing_run_day(*, day: date | None, dry_run: bool = False, trigger: str) -> BillingSummary:
    """Staff trigger (admin API, back office): bill one ended day now, or with day None every unbilled day.

    A day that has not ended (with the grace period after it) is refused with DayNotReady rather than run empty:
    the operator asked for that day and must learn it was not billed.
    """
    if day is not None and day > ledger.last_ready_day(timezone.now(), tz=billing_time_zone(), grace=claim_grace()):
        raise DayNotReady(ERR_NOT_READY.format(day=day))
    return billing_run(up_to=day + ledger.ONE_DAY if day else None, since=day, dry_run=dry_run, trigger=trigger)


def invoice_create_for_day(*, user_id: int, day: date) -> Invoice | None:
    """Bill one user for one ended day; returns that day's invoice (new or existing), None if nothing to bill."""
    window = billing_window(up_to=day + ledger.ONE_DAY, since=day, move_cursor=False)
    if window.last < day:
        raise BillingError(ERR_NOT_READY.format(day=day))
    run = BillingRun.objects.create(trigger=BillingRun.Trigger.SERVICE, first_day=day, last_day=day)
    # IntegrityError: billed concurrently, and the existing invoice is the answer.
    with contextlib.suppress(IntegrityError):
        _bill_batch([user_id], window=window, run=run)
    return Invoice.objects.filter(user_id=user_id, invoice_date=day).first()


def invoice_line_credit(*, line_id: int, actor: User | None, reason: str) -> InvoiceLine:
    """Correct a charge: a credit line (the negative amount, pointing at the charge) on the user's latest open
    invoice after the charged one. The charge itself never changes; the carrying invoice's totals follow its lines."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(ERR_REASON_REQUIRED)
    with transaction.atomic():
        charge = InvoiceLine.objects.select_related("invoice").get(pk=line_id)
        if charge.credit_for_id is not None or charge.amount_cents <= 0 or charge.credits.exists():
            raise BillingError(ERR_NOT_A_CHARGE)
        carrier = (
            Invoice.objects.select_for_update()
            .filter(
                user_id=charge.invoice.user_id,
                invoice_date__gt=charge.invoice.invoice_date,
                currency=charge.invoice.currency,
                status__in=[Invoice.Status.DRAFT, Invoice.Status.OPEN],
                # Not yet sent to Stripe: a credit added after Stripe has the invoice would lower our total while
                # Stripe still charges the old one.
            )
            .filter(Q(stripe_invoice_id__isnull=True) | Q(stripe_invoice_id=""))
            .order_by("-invoice_date")
            .first()
        )
        if carrier is None:
            raise BillingError(ERR_NO_LATER_INVOICE)
        credit = InvoiceLine.objects.create(
            invoice=carrier,
            claim_id=charge.claim_id,
            case_id=charge.case_id,
            case_number=charge.case_number,
            description=f"Credit for {charge.description} ({reason})"[:200],
            service_date=charge.service_date,
            quantity=charge.quantity,
            unit_amount_cents=-charge.unit_amount_cents,
            amount_cents=-charge.amount_cents,
            score=charge.score,
            credit_for=charge,
        )
        subtotal = carrier.subtotal_cents - charge.amount_cents
        Invoice.objects.filter(pk=carrier.pk).update(subtotal_cents=subtotal, total_cents=subtotal + carrier.tax_cents)
        InvoiceEvent.objects.create(
            invoice=carrier,
            actor=actor,
            from_status=carrier.status,
            to_status=carrier.status,
            reason=f"Credit of line #{charge.pk} ({charge.invoice.number}): {reason}"[:500],
        )
    return credit


# --- Pricing ----------------------------------------------------------------------------------------------


def pricing_config_publish(
    *,
    actor: User | None,
    model: str,
    currency: str,
    flat_price_cents: int = 0,
    bands: list[dict] | None = None,
    cents_per_point: int = 0,
    floor_cents: int = 0,
    ceiling_cents: int | None = None,
    note: str = "",
) -> PricingConfig:
    """Publish a new pricing version and make it the active one. Existing claims keep the price they froze."""
    config = PricingConfig(
        model=model,
        currency=currency.lower(),
        flat_price_cents=flat_price_cents,
        bands=bands or [],
        cents_per_point=cents_per_point,
        floor_cents=floor_cents,
        ceiling_cents=ceiling_cents,
        note=note,
        created_by=actor,
    )
    pricing.validate_rule(config.rule())
    with transaction.atomic():
        # Lock the active row so two publishers get consecutive versions instead of a unique violation.
        PricingConfig.objects.select_for_update().filter(is_active=True).update(is_active=False)
        pricing_currency_switch_check(currency=config.currency)
        config.version = (PricingConfig.objects.aggregate(v=Max("version"))["v"] or 0) + 1
        config.is_active = True
        config.save()
    return config


def pricing_currency_switch_check(*, currency: str) -> None:
    """Claims in another currency with days still to bill would make a day's invoice mixed (ERR_MIXED_CURRENCY).

    "Still to bill": active, or ended after the user's billing cursor (compared at midnight UTC of the cursor's
    day, which counts the cursor's own day as unbilled: refusing a little too long, never too short).
    """
    billed_through = BillingCursor.objects.filter(user_id=OuterRef("user_id")).values("processed_through")[:1]
    pending = (
        Claim.objects.exclude(currency=currency)
        .annotate(billed_through=Subquery(billed_through))
        .filter(
            Q(status=Claim.Status.ACTIVE) | Q(billed_through__isnull=True) | Q(released_at__gte=F("billed_through"))
        )
    )
    old = list(pending.order_by("currency").values_list("currency", flat=True).distinct()[:2])
    if old:
        raise BillingError(
            ERR_CURRENCY_SWITCH.format(n=pending.count(), old="/".join(c.upper() for c in old), new=currency.upper())
        )


# --- Stripe (billing/stripe_sync.py; re-exported: the webhook looks these up here) ----------------------------------
from billing.stripe_sync import (  # noqa: E402, F401
    STRIPE_SYNC,
    SyncOutcome,
    billing_reconcile,
    email_payment_failed,
    invoice_stripe_status_apply,
    invoice_stripe_sync,
    invoices_stripe_sync_after_run,
    invoices_stripe_sync_due,
    invoices_stripe_sync_pending,
)
