"""The ledger's side of Stripe: send daily invoices, apply Stripe's status changes, reconcile.

Re-exported from billing.services (the webhook looks `invoice_stripe_status_apply` up there). Every Stripe call
goes through billing.stripe_gateway. Each step's Stripe id is stored before the next step runs and every write
carries a key derived from our rows, so a crash anywhere resumes without duplicates (STRIPE.md).
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Q, QuerySet
from django.urls import reverse
from django.utils import timezone

from billing import stripe_gateway
from billing.models import Invoice, InvoiceEvent, StripeDrift
from billing.stripe_gateway import (
    PaymentDeclined,
    StripeNotConfigured,
    StripeRequestRejected,
    StripeUnavailable,
)
from jsn.lib.busy import is_busy
from jsn.lib.mail import send_notice
from outbox.services import outbox_enqueue

logger = logging.getLogger(__name__)

S = Invoice.Status
# Stripe may move an invoice only forward. A superset of the staff transitions: Stripe can also mark an open
# invoice uncollectible. paid and void are final; open is never re-entered (a late `finalized` changes nothing).
STRIPE_TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.OPEN, S.PAID, S.FAILED, S.VOID, S.UNCOLLECTIBLE},
    S.OPEN: {S.PAID, S.FAILED, S.VOID, S.UNCOLLECTIBLE},
    S.FAILED: {S.PAID, S.VOID, S.UNCOLLECTIBLE},
    S.UNCOLLECTIBLE: {S.PAID, S.VOID},
    S.PAID: set(),
    S.VOID: set(),
}
STRIPE_STATUS = {"paid": S.PAID, "void": S.VOID, "uncollectible": S.UNCOLLECTIBLE, "open": S.OPEN}

ERR_TOO_MANY_LINES = (
    "{n} lines in {groups} price groups: a Stripe invoice holds at most {max} items. Not sent (nothing "
    "truncated); bill it by hand or split it, then clear this error and retry."
)
FAILED_SUBJECT = "Your payment failed (invoice {number})"
PAYMENT_FAILED_NOTICE = "billing.payment_failed"  # the outbox kind of that e-mail
STRIPE_SYNC = "billing.stripe_sync"  # the outbox kind of "send the open invoices to Stripe" after a billing run
STRIPE_SYNC_LEASE = timedelta(minutes=30)  # a worker killed mid-sync leaves it to the sweep after this
SYNC_LOCK_NAMESPACE = 0x4A534E53  # "JSNS": pg_try_advisory_lock(namespace, 0) while a walk runs
ALREADY_RUNNING = "already_running"
SYNC_BATCH = 200
MAX_CONSECUTIVE_UNAVAILABLE = 3
RECHECK_SETTLED = timedelta(days=2)


class StripeSyncIncomplete(Exception):
    """Some invoices were left for a retry; the outbox message that asked for the sync stays due."""


class SyncOutcome(StrEnum):
    PAID = "paid"
    FAILED = "failed"
    OPEN = "open"  # at Stripe and finalized; Stripe settles it later (webhooks)
    SETTLED = "settled"  # nothing left to do
    UNAVAILABLE = "unavailable"  # Stripe did not answer: left for a retry
    BUSY = "busy"  # staff were changing it (row locked) when it was to be charged: left for a retry
    REJECTED = "rejected"  # recorded in stripe_sync_error; skipped until staff retry
    TOO_MANY_LINES = "too_many_lines"  # recorded in stripe_sync_error
    DISABLED = "disabled"


# --- status changes ----------------------------------------------------------------------------------------------
def invoice_move_forward(invoice: Invoice, to_status: str, *, reason: str) -> bool:
    """Move a locked invoice forward, audited; a backward or repeated move changes nothing (False)."""
    if to_status == invoice.status or to_status not in STRIPE_TRANSITIONS.get(invoice.status, set()):
        return False
    paid_at = timezone.now() if to_status == S.PAID else invoice.paid_at
    if not Invoice.objects.filter(pk=invoice.pk, status=invoice.status).update(status=to_status, paid_at=paid_at):
        return False
    InvoiceEvent.objects.create(
        invoice=invoice, actor=None, from_status=invoice.status, to_status=to_status, reason=reason[:500]
    )
    invoice.status, invoice.paid_at = to_status, paid_at
    if to_status == S.FAILED:
        # The "payment failed" e-mail is promised in this transaction (outbox) and sent after commit: a broker
        # outage delays it instead of losing it (billing.tasks registers the handler).
        outbox_enqueue(kind=PAYMENT_FAILED_NOTICE, payload={"invoice_id": invoice.pk})
    return True


def _apply(*, invoice_id: int, to_status: str, reason: str) -> bool:
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        return invoice_move_forward(invoice, to_status, reason=reason)


def invoice_stripe_status_apply(
    *, stripe_invoice_id: str, stripe_status: str, event_type: str, attempt_count: int
) -> bool:
    """Apply what Stripe says about one of our invoices (a webhook, re-read by id). Never moves backwards.

    Returns whether the local status changed. Unknown Stripe ids (not ours, or not linked yet) change nothing.
    """
    to_status = STRIPE_STATUS.get(stripe_status)
    if stripe_status == "open" and event_type == "invoice.payment_failed":
        to_status = S.FAILED
    if to_status is None:
        return False
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().filter(stripe_invoice_id=stripe_invoice_id).first()
        if invoice is None:
            logger.info("Stripe %s for %s: no linked JSN invoice", event_type, stripe_invoice_id)
            return False
        reason = f"Stripe {event_type}: {stripe_status} (attempt {attempt_count})"
        return invoice_move_forward(invoice, to_status, reason=reason)


def email_payment_failed(*, invoice_id: int) -> None:
    invoice = Invoice.objects.select_related("user").get(pk=invoice_id)
    if invoice.status != S.FAILED:
        return  # paid (or voided) meanwhile: no alarm
    billing_url = f"{settings.SITE_URL}{reverse('billing')}"
    paragraphs = [
        f"We could not charge your card for invoice {invoice.number} ({invoice.invoice_date:%Y-%m-%d}, "
        f"{invoice.total_cents / 100:.2f} {invoice.currency.upper()}).",
        f'Update your card in the Stripe Billing Portal: open {billing_url} and choose "Manage billing".\n'
        f"Stripe retries the payment automatically. After {settings.PAYMENT_GRACE_DAYS} days unpaid, new claims "
        "are paused until it is settled; the cases you hold stay yours.",
    ]
    send_notice(to=invoice.user.email, subject=FAILED_SUBJECT.format(number=invoice.number), paragraphs=paragraphs)


# --- sending daily invoices ------------------------------------------------------------------------------------------
def _record_error(invoice_id: int, error: str) -> None:
    Invoice.objects.filter(pk=invoice_id).update(stripe_sync_error=error[:2000])
    logger.error("Stripe sync of invoice %s stopped: %s", invoice_id, error)


def _day_bounds(day: object) -> tuple[datetime, datetime]:
    tz = ZoneInfo(settings.BILLING_TIME_ZONE)
    start = datetime.combine(day, time(0), tzinfo=tz)
    return start, datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)


def _outcome_of(invoice: Invoice, state: stripe_gateway.StripeInvoiceState, *, reason: str) -> SyncOutcome:
    to_status = STRIPE_STATUS.get(state.status)
    if to_status is not None:
        _apply(invoice_id=invoice.pk, to_status=to_status, reason=reason)
    return {"paid": SyncOutcome.PAID, "open": SyncOutcome.OPEN}.get(state.status, SyncOutcome.SETTLED)


@dataclass(frozen=True)
class StripeItem:
    """One Stripe invoice item: a ledger line, or (on a day with more lines than Stripe allows) a price group."""

    key: str  # our line id, or "g<invoice>-<day>-<cents>" for a group; the item's idempotency key and metadata
    amount_cents: int
    description: str
    service_date: date
    metadata: dict[str, str]


def _stripe_items(invoice: Invoice, lines: list[dict]) -> list[StripeItem]:
    """One item per line, as the customer sees them on our invoice — unless that is more than Stripe takes.

    Then lines are summed per (service day, amount): "37 case-days at 15.00 USD". The sum is the same to the cent,
    the itemised list stays on our invoice (PDF and billing page), and the grouping depends only on the invoice's
    lines, which no longer change once it is being sent, so a resumed sync finds the same keys.
    """
    if len(lines) <= stripe_gateway.MAX_INVOICE_ITEMS:
        return [
            StripeItem(
                key=str(line["id"]),
                amount_cents=line["amount_cents"],
                description=line["description"],
                service_date=line["service_date"],
                metadata={"jsn_claim_id": str(line["claim_id"])},
            )
            for line in lines
        ]
    groups: dict[tuple[date, int], list[dict]] = {}
    for line in lines:
        groups.setdefault((line["service_date"], line["amount_cents"]), []).append(line)
    items = []
    for (day, cents), members in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        kind = "credits" if cents < 0 else "case-days"
        unit = f"{abs(cents) / 100:.2f} {invoice.currency.upper()}"
        items.append(
            StripeItem(
                key=f"g{invoice.pk}-{day:%Y%m%d}-{cents}",
                amount_cents=cents * len(members),
                description=f"{len(members)} {kind} at {unit}, {day:%Y-%m-%d} (itemised on invoice {invoice.number})",
                service_date=day,
                metadata={"jsn_lines": str(len(members))},
            )
        )
    return items


def invoice_stripe_items(invoice: Invoice) -> tuple[list[StripeItem], int]:
    """The items Stripe gets for this invoice, and its number of lines."""
    lines = list(invoice.lines.order_by("id").values("id", "amount_cents", "description", "service_date", "claim_id"))
    return _stripe_items(invoice, lines), len(lines)


def invoice_stripe_items_add(
    invoice: Invoice, items: list[StripeItem], *, customer_id: str, stripe_invoice_id: str
) -> None:
    """Attach to the Stripe draft every item not on it yet (found by line id, so this resumes after the 24 h key
    window too). Used by the sync and by staff settling a draft (billing.invoice_status)."""
    existing = stripe_gateway.invoice_items_by_line(stripe_invoice_id=stripe_invoice_id)
    for item in items:
        if item.key in existing:
            continue
        start, end = _day_bounds(item.service_date)
        stripe_gateway.invoice_item_create(
            customer_id=customer_id,
            stripe_invoice_id=stripe_invoice_id,
            line_id=item.key,
            amount_cents=item.amount_cents,
            currency=invoice.currency,
            description=item.description,
            period_start=start,
            period_end=end,
            metadata={stripe_gateway.METADATA_INVOICE_ID: str(invoice.pk), **item.metadata},
        )


def invoice_stripe_sync(*, invoice_id: int, force: bool = False) -> SyncOutcome:
    """Send one invoice to Stripe and charge it once: draft → its items (_stripe_items) → finalize → pay.

    Resumable at any point: the draft id is stored before items are added, items already on the draft are found
    by line id, finalize and pay are idempotent. A decline marks the invoice failed (e-mail after commit); Stripe
    being down leaves it for a retry. `force` retries an invoice whose last attempt recorded an error.

    Staff may settle the invoice while it is being sent (billing.invoice_status): it is linked to its new draft only
    while it is still open here, re-read before finalizing, and charged under its row lock, which staff hold while
    they tell Stripe, so an invoice staff marked paid or void is never charged by the sync.
    """
    invoice = Invoice.objects.select_related("user").get(pk=invoice_id)
    if not stripe_gateway.is_enabled():
        return SyncOutcome.DISABLED
    if invoice.stripe_sync_error and not force:
        return SyncOutcome.REJECTED
    if invoice.status not in (S.OPEN, S.FAILED) or (invoice.status == S.FAILED and not invoice.stripe_invoice_id):
        return SyncOutcome.SETTLED
    items, line_count = invoice_stripe_items(invoice)
    if len(items) > stripe_gateway.MAX_INVOICE_ITEMS:
        error = ERR_TOO_MANY_LINES.format(n=line_count, groups=len(items), max=stripe_gateway.MAX_INVOICE_ITEMS)
        _record_error(invoice.pk, error)
        return SyncOutcome.TOO_MANY_LINES
    if force and invoice.stripe_sync_error:
        Invoice.objects.filter(pk=invoice.pk).update(stripe_sync_error="")
    try:
        return _sync(invoice, items)
    except StripeNotConfigured:
        return SyncOutcome.DISABLED
    except StripeUnavailable as exc:
        logger.warning("Stripe unavailable for invoice %s; the next run retries: %s", invoice.pk, exc)
        return SyncOutcome.UNAVAILABLE
    except StripeRequestRejected as exc:
        _record_error(invoice.pk, f"Stripe refused ({exc.code or 'no code'}): {exc}")
        return SyncOutcome.REJECTED


def _sync(invoice: Invoice, items: list[StripeItem]) -> SyncOutcome:
    customer = stripe_gateway.customer_ensure(user=invoice.user)
    stripe_invoice_id = invoice.stripe_invoice_id
    if stripe_invoice_id is None and invoice.created_at < timezone.now() - timedelta(hours=23):
        # Our draft key may have expired at Stripe: look for a draft an earlier (crashed) run made.
        found = stripe_gateway.invoice_find_by_metadata(our_invoice_id=invoice.pk)
        stripe_invoice_id = found.id if found else None
    if stripe_invoice_id is None:
        stripe_invoice_id = stripe_gateway.invoice_draft_create(
            customer_id=customer.id,
            our_invoice_id=invoice.pk,
            invoice_date=invoice.invoice_date,
            currency=invoice.currency,
        )
    if invoice.stripe_invoice_id != stripe_invoice_id:
        # Stored before any item is added: a crash from here on resumes on this draft. Only while the invoice is
        # still open here: one that staff marked paid or void meanwhile (here only, as it had no Stripe invoice yet)
        # must never reach Stripe.
        Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id__isnull=True, status=S.OPEN).update(
            stripe_invoice_id=stripe_invoice_id, stripe_customer_id=customer.id
        )
        if not Invoice.objects.filter(pk=invoice.pk, stripe_invoice_id=stripe_invoice_id).exists():
            # Nobody will ever finalize this draft: delete it, so nothing at Stripe can charge it or be mistaken.
            stripe_gateway.invoice_draft_delete(stripe_invoice_id=stripe_invoice_id)
            return SyncOutcome.SETTLED
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_invoice_id)
    if state.status == "draft":
        invoice_stripe_items_add(invoice, items, customer_id=customer.id, stripe_invoice_id=stripe_invoice_id)
        if not Invoice.objects.filter(pk=invoice.pk, status__in=[S.OPEN, S.FAILED]).exists():
            return SyncOutcome.SETTLED  # staff settled it meanwhile (at Stripe too: billing.invoice_status)
        state = stripe_gateway.invoice_finalize(stripe_invoice_id=stripe_invoice_id)
    if state.status != "open" or invoice.status == S.FAILED:
        # Settled, or already declined once: Stripe's own retries (auto_advance) own further attempts.
        return _outcome_of(invoice, state, reason=f"Stripe sync: Stripe says {state.status}")
    return _pay_once(invoice, stripe_invoice_id)


def _pay_once(invoice: Invoice, stripe_invoice_id: str) -> SyncOutcome:
    """The one step that charges the card, made under the invoice's row lock after re-reading its status: staff
    marking it paid or void hold that lock while they tell Stripe, so a charge never crosses their change."""
    try:
        with transaction.atomic():
            status = Invoice.objects.select_for_update().filter(pk=invoice.pk).values_list("status", flat=True).get()
            if status != S.OPEN:
                return SyncOutcome.SETTLED
            try:
                state = stripe_gateway.invoice_pay(stripe_invoice_id=stripe_invoice_id)
            except PaymentDeclined as exc:
                why = "no payment method on file" if isinstance(exc, stripe_gateway.PaymentMethodMissing) else str(exc)
                _apply(invoice_id=invoice.pk, to_status=S.FAILED, reason=f"Stripe payment failed: {why}")
                return SyncOutcome.FAILED
            return _outcome_of(invoice, state, reason="Stripe sync: paid")
    except OperationalError as exc:
        if not is_busy(exc):
            raise
        logger.info("Stripe sync: invoice %s is locked by a staff change; left for a retry", invoice.pk)
        return SyncOutcome.BUSY


def _pending() -> QuerySet[Invoice]:
    return Invoice.objects.filter(status=S.OPEN, stripe_sync_error="")


def invoices_stripe_sync_pending(*, limit: int | None = None) -> dict[str, int]:
    """Walk every open invoice not yet settled at Stripe (oldest first): the daily run's and earlier leftovers.

    One outbox message per billing run calls this (STRIPE_SYNC), not one task per invoice. Stops early when
    Stripe keeps not answering. One walk at a time (a PostgreSQL session lock, freed with the connection if the
    worker dies): a second one meanwhile does nothing and answers {"already_running": 1}.
    """
    counts: dict[str, int] = {}
    if not stripe_gateway.is_enabled():
        return counts
    pending = _pending().order_by("id").values_list("pk", flat=True)
    if limit is not None:
        pending = pending[:limit]
    with _one_walk_at_a_time() as alone:
        if not alone:
            return {ALREADY_RUNNING: 1}
        unavailable_in_a_row = 0
        for invoice_id in pending.iterator(chunk_size=SYNC_BATCH):
            outcome = invoice_stripe_sync(invoice_id=invoice_id)
            counts[outcome] = counts.get(outcome, 0) + 1
            unavailable_in_a_row = unavailable_in_a_row + 1 if outcome == SyncOutcome.UNAVAILABLE else 0
            if unavailable_in_a_row >= MAX_CONSECUTIVE_UNAVAILABLE:
                logger.warning("Stripe sync stopped: Stripe unavailable %s times in a row", unavailable_in_a_row)
                break
    return counts


@contextmanager
def _one_walk_at_a_time() -> Iterator[bool]:
    """Two walks at once would send the same invoices with the same idempotency keys at the same moment, which
    Stripe answers with conflicts. Session-level, not per transaction: the walk commits invoice by invoice."""
    if connection.vendor != "postgresql":
        yield True  # SQLite: the local demo, one worker
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, 0)", [SYNC_LOCK_NAMESPACE])
        alone = cursor.fetchone()[0]
    try:
        yield alone
    finally:
        if alone:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, 0)", [SYNC_LOCK_NAMESPACE])


def invoices_stripe_sync_due() -> bool:
    """Whether some invoice waits to be sent to Stripe (what invoices_stripe_sync_pending walks)."""
    return _pending().exists()


def invoices_stripe_sync_after_run(*, run_id: int | None = None) -> dict[str, int]:
    """The outbox handler of STRIPE_SYNC (billing.tasks): walk the pending invoices; raise StripeSyncIncomplete when
    some were left because Stripe did not answer, staff held one, or another walk was running, so that the outbox
    retries it with its back-off (and shows it to staff when it gives up)."""
    counts = invoices_stripe_sync_pending()
    left = {k: n for k, n in counts.items() if k in (SyncOutcome.UNAVAILABLE, SyncOutcome.BUSY, ALREADY_RUNNING)}
    if left:
        raise StripeSyncIncomplete(f"after billing run {run_id}: left for a retry {left} (all outcomes {counts})")
    logger.info("Stripe sync after billing run %s: %s", run_id, counts)
    return counts


# --- reconciliation ----------------------------------------------------------------------------------------------
def _drift(invoice: Invoice, kind: str, *, stripe_id: str, local: str, remote: str) -> None:
    try:
        with transaction.atomic():
            StripeDrift.objects.update_or_create(
                invoice=invoice,
                kind=kind,
                resolved_at=None,
                defaults={"stripe_invoice_id": stripe_id, "local_value": local[:64], "stripe_value": remote[:64]},
            )
    except IntegrityError:  # a concurrent run reported it first
        pass


def billing_reconcile(*, since_days: int = 35, min_age: timedelta = timedelta(minutes=5)) -> dict[str, int]:
    """Compare recent local invoices that Stripe should know with Stripe, found by metadata (not by our stored id).

    Records one open StripeDrift per (invoice, kind) and resolves reports that no longer apply. Invoices younger
    than `min_age` are skipped: Stripe's search index lags about a minute behind.
    """
    counts = {"checked": 0, "drift": 0, "resolved": 0}
    if not stripe_gateway.is_enabled():
        return counts
    now = timezone.now()
    # One search call per invoice: settled invoices (paid, void) are checked once, in the two days after they
    # were made; unsettled ones every day of the window.
    unsettled = Q(status__in=[S.OPEN, S.FAILED, S.UNCOLLECTIBLE])
    invoices = (
        Invoice.objects.filter(created_at__lt=now - min_age, created_at__gte=now - timedelta(days=since_days))
        .filter(unsettled | Q(created_at__gte=now - RECHECK_SETTLED))
        .exclude(stripe_invoice_id__isnull=True, status=S.OPEN, stripe_sync_error="")  # not sent yet: the sync's job
    )
    for invoice in invoices.order_by("id").iterator(chunk_size=SYNC_BATCH):
        state = stripe_gateway.invoice_find_by_metadata(our_invoice_id=invoice.pk)
        counts["checked"] += 1
        found: set[str] = set()
        sid = state.id if state else ""
        if state is None:
            if invoice.stripe_invoice_id:
                found.add(StripeDrift.Kind.MISSING_AT_STRIPE)
                _drift(invoice, StripeDrift.Kind.MISSING_AT_STRIPE, stripe_id="", local=invoice.status, remote="")
        else:
            if not invoice.stripe_invoice_id:
                found.add(StripeDrift.Kind.UNLINKED)
                _drift(invoice, StripeDrift.Kind.UNLINKED, stripe_id=sid, local="", remote=sid)
            elif invoice.stripe_invoice_id != sid:
                found.add(StripeDrift.Kind.OTHER_STRIPE_ID)
                _drift(
                    invoice,
                    StripeDrift.Kind.OTHER_STRIPE_ID,
                    stripe_id=sid,
                    local=invoice.stripe_invoice_id,
                    remote=sid,
                )
            expected = STRIPE_STATUS.get(state.status)
            same = expected == invoice.status or (state.status == "open" and invoice.status == S.FAILED)
            if state.status != "draft" and not same:
                found.add(StripeDrift.Kind.STATUS)
                _drift(invoice, StripeDrift.Kind.STATUS, stripe_id=sid, local=invoice.status, remote=state.status)
            # The total, not amount_due: a balance or a below-minimum charge changes what is due, not what we billed.
            if state.status != "draft" and state.total != invoice.total_cents:
                found.add(StripeDrift.Kind.AMOUNT)
                _drift(
                    invoice,
                    StripeDrift.Kind.AMOUNT,
                    stripe_id=sid,
                    local=str(invoice.total_cents),
                    remote=str(state.total),
                )
        counts["drift"] += len(found)
        counts["resolved"] += (
            StripeDrift.objects.filter(invoice=invoice, resolved_at__isnull=True)
            .exclude(kind__in=found)
            .update(resolved_at=now)
        )
    return counts
