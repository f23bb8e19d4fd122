"""Staff status changes of an invoice (mark paid, mark failed, void): audited, and made at Stripe first when Stripe
has the invoice. Re-exported from billing.services; the admin actions, the billing control room and the staff API
all come here.

Why Stripe first: a Stripe invoice left open keeps being collected (the sync's one payment, then Stripe's automatic
retries), so "paid" only here lets Stripe charge a customer who already paid another way, and "void" only here
charges for an invoice we cancelled. So, for an invoice with a Stripe invoice:

- **paid**: Stripe records it as paid out of band (`pay` with `paid_out_of_band=true`: no charge, and collection
  stops). Only an open or uncollectible invoice can be paid, so a Stripe draft (a sync that stopped half-way) is
  first completed with the missing items and finalized *without* automatic collection, then paid out of band: Stripe
  keeps the same invoice, for the same amount, as the customer's record.
- **void**: Stripe voids it. A Stripe draft (never shown to the customer, never charged) is deleted instead, since
  Stripe cannot void a draft, and our invoice forgets its id.
- **failed**: nothing is written at Stripe. Stripe has no "payment failed" status to set, and its invoice must stay
  open so that its automatic retries can still collect; a later success arrives as `invoice.paid` and moves failed →
  paid, which is forward. Stripe is read first, though: an invoice Stripe has settled (paid, void, uncollectible)
  takes Stripe's status here instead of being marked failed.

Our row changes only after Stripe agreed, in one transaction that holds the invoice's row lock from before the first
Stripe call until the commit. The sync charges a card only under that same lock after re-reading the status
(billing.stripe_sync._pay_once), so it never charges an invoice in the middle of being settled; Stripe's webhooks
for the invoice wait for the lock too. If Stripe does not answer, nothing changes here (StripeActionError
`stripe_unavailable`); should Stripe have applied the change all the same, a retry finds it done and completes it,
and so does Stripe's `invoice.paid`/`invoice.voided` webhook, without any charge. When Stripe's status contradicts
the request (collected by card already, voided), Stripe's status is applied here, audited as Stripe's, and the
request is refused saying so.

An invoice Stripe does not have (Stripe not connected, or not sent yet) changes here only, as before. The sync never
sends it afterwards: it sends open invoices only, and links a new Stripe draft only while the invoice is still open
(a draft made for an invoice that staff settled meanwhile is deleted).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from billing import stripe_gateway, stripe_sync
from billing.errors import BillingError, InvoiceBusy, InvoiceTransitionRefused, StripeActionError
from billing.models import Invoice, InvoiceEvent
from billing.pdf import money
from billing.stripe_gateway import StripeInvoiceState, StripeNotConfigured, StripeRequestRejected, StripeUnavailable
from jsn.lib.busy import busy_as

S = Invoice.Status

ERR_BAD_TRANSITION = "An invoice that is {from_status} cannot become {to_status}."
ERR_REASON_REQUIRED = "A reason is required."
ERR_STRIPE_UNAVAILABLE = (
    "Stripe did not answer ({error}), so invoice {number} was not marked {to_status}: it is unchanged here. Try again "
    "in a minute; if Stripe did record it, the retry completes it without charging anything."
)
ERR_STRIPE_REFUSED = "Stripe refused to mark invoice {number} {to_status} ({error}); it is unchanged here."
ERR_STRIPE_NOT_CONNECTED = (
    "Invoice {number} is at Stripe ({stripe_id}) but Stripe is not connected here, so it cannot be told, and Stripe "
    "could still charge it. Connect Stripe and try again (or change it in the Stripe Dashboard)."
)
ERR_TOO_MANY_ITEMS = "Invoice {number} has more price groups than a Stripe invoice takes; settle it in Stripe by hand."
ERR_COLLECTED_AT_STRIPE = (
    "Stripe had already collected invoice {number} ({amount}), so it is paid here now and nothing was recorded out of "
    "band. If the customer also paid you directly, refund one of the two payments."
)
ERR_COLLECTED_NOT_VOID = (
    "Stripe has already collected invoice {number} ({amount}), so it is paid here now and cannot be voided; refund it "
    "in Stripe if it should not have been charged."
)
ERR_SETTLED_AT_STRIPE = (
    "Stripe says invoice {number} is {stripe_status}, so it is {status} here now; not marked {to_status}."
)

STAFF_TRANSITIONS: dict[str, set[str]] = {
    S.DRAFT: {S.OPEN, S.VOID},
    S.OPEN: {S.PAID, S.FAILED, S.VOID},
    S.FAILED: {S.PAID, S.VOID, S.UNCOLLECTIBLE},
    S.UNCOLLECTIBLE: {S.PAID, S.VOID},
    S.PAID: set(),  # paid never moves back; corrections are credit lines
    S.VOID: set(),
}


@dataclass(frozen=True)
class _StripeAnswer:
    """What Stripe made of a staff change: done (apply it here), or Stripe's own status to apply instead (refused)."""

    done: bool
    note: str = ""  # for the audit row, after the staff member's reason
    unlink: bool = False  # the Stripe invoice is gone (a deleted draft)
    stripe_status: str | None = None  # not done: this local status is Stripe's, applied here
    refusal: str = ""  # not done: what staff are told
    refusal_code: str | None = None


def invoice_set_status(*, invoice_id: int, to_status: str, actor: User | None, reason: str) -> Invoice:
    """Staff move an invoice to a new status, audited with who and why; at Stripe first when Stripe has it (see the
    module docstring). Compare-and-set under the row lock: a concurrent change makes this one fail."""
    reason = (reason or "").strip()
    if not reason:
        raise BillingError(ERR_REASON_REQUIRED)
    answer = _StripeAnswer(done=True)
    with busy_as(lambda: InvoiceBusy(invoice_id=invoice_id)), transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice_id)
        if to_status not in STAFF_TRANSITIONS.get(invoice.status, set()):
            raise InvoiceTransitionRefused(
                ERR_BAD_TRANSITION.format(from_status=invoice.status, to_status=to_status), status=invoice.status
            )
        if invoice.stripe_invoice_id:
            answer = _at_stripe(invoice, to_status)  # the row stays locked meanwhile: see _pay_once
        if answer.done:
            _staff_move(invoice, to_status, actor=actor, reason=reason, answer=answer)
        elif answer.stripe_status:
            found = f"Stripe says {answer.stripe_status} (found when staff marked it {to_status})"
            stripe_sync.invoice_move_forward(invoice, answer.stripe_status, reason=found)
    if not answer.done:
        raise InvoiceTransitionRefused(answer.refusal, status=invoice.status, code=answer.refusal_code)
    return invoice


def invoice_mark_paid(*, invoice_id: int, actor: User | None, reason: str) -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, to_status=S.PAID, actor=actor, reason=reason)


def invoice_mark_failed(*, invoice_id: int, actor: User | None, reason: str) -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, to_status=S.FAILED, actor=actor, reason=reason)


def invoice_void(*, invoice_id: int, actor: User | None, reason: str) -> Invoice:
    return invoice_set_status(invoice_id=invoice_id, to_status=S.VOID, actor=actor, reason=reason)


def _staff_move(invoice: Invoice, to_status: str, *, actor: User | None, reason: str, answer: _StripeAnswer) -> None:
    paid_at = timezone.now() if to_status == S.PAID else invoice.paid_at
    changes: dict = {"status": to_status, "paid_at": paid_at}
    if answer.unlink:
        changes["stripe_invoice_id"] = None
    Invoice.objects.filter(pk=invoice.pk, status=invoice.status).update(**changes)
    audit = f"{reason} ({answer.note})" if answer.note else reason
    InvoiceEvent.objects.create(
        invoice=invoice, actor=actor, from_status=invoice.status, to_status=to_status, reason=audit[:500]
    )
    invoice.status, invoice.paid_at = to_status, paid_at
    if answer.unlink:
        invoice.stripe_invoice_id = None


# --- at Stripe ---------------------------------------------------------------------------------------------------
def _at_stripe(invoice: Invoice, to_status: str) -> _StripeAnswer:
    """Make the change at Stripe (or learn why not), translating Stripe's errors into StripeActionError."""
    facts = {"number": invoice.number, "to_status": to_status, "stripe_id": invoice.stripe_invoice_id}
    if not stripe_gateway.is_enabled():
        raise StripeActionError(ERR_STRIPE_NOT_CONNECTED.format(**facts), code="stripe_not_connected")
    try:
        if to_status == S.PAID:
            return _pay_out_of_band(invoice)
        if to_status == S.VOID:
            return _void(invoice)
        return _check_before_failed(invoice)
    except StripeNotConfigured as exc:
        raise StripeActionError(ERR_STRIPE_NOT_CONNECTED.format(**facts), code="stripe_not_connected") from exc
    except StripeUnavailable as exc:
        raise StripeActionError(ERR_STRIPE_UNAVAILABLE.format(error=exc, **facts), code="stripe_unavailable") from exc
    except StripeRequestRejected as exc:
        raise StripeActionError(ERR_STRIPE_REFUSED.format(error=exc, **facts), code="stripe_refused") from exc


def _pay_out_of_band(invoice: Invoice) -> _StripeAnswer:
    stripe_id = invoice.stripe_invoice_id
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_id, with_paid_off_stripe=True)
    if state.status == "draft":
        _complete_draft(invoice)
        # No automatic collection: between this call and the next nothing may try the customer's card.
        state = stripe_gateway.invoice_finalize(stripe_invoice_id=stripe_id, auto_advance=False)
        if state.status == "paid":
            return _StripeAnswer(done=True, note=f"Stripe {stripe_id}: nothing to collect")
    if state.status in ("open", "uncollectible"):
        try:
            stripe_gateway.invoice_pay_out_of_band(stripe_invoice_id=stripe_id)
            return _StripeAnswer(done=True, note=f"paid out of band at Stripe, {stripe_id}")
        except StripeRequestRejected:
            # Settled at Stripe since we looked (a payment or a void in between)? Then say how; else it is a refusal.
            state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_id, with_paid_off_stripe=True)
            if state.status in ("open", "uncollectible"):
                raise
    return _settled_at_stripe(invoice, state, to_status=S.PAID)


def _void(invoice: Invoice) -> _StripeAnswer:
    stripe_id = invoice.stripe_invoice_id
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_id)
    if state.status == "draft":
        stripe_gateway.invoice_draft_delete(stripe_invoice_id=stripe_id)
        return _StripeAnswer(done=True, unlink=True, note=f"Stripe draft {stripe_id} deleted")
    if state.status in ("open", "uncollectible"):
        try:
            stripe_gateway.invoice_void(stripe_invoice_id=stripe_id)
            return _StripeAnswer(done=True, note=f"voided at Stripe, {stripe_id}")
        except StripeRequestRejected:
            state = stripe_gateway.invoice_retrieve(stripe_invoice_id=stripe_id)
            if state.status in ("open", "uncollectible"):
                raise
    return _settled_at_stripe(invoice, state, to_status=S.VOID)


def _check_before_failed(invoice: Invoice) -> _StripeAnswer:
    state = stripe_gateway.invoice_retrieve(stripe_invoice_id=invoice.stripe_invoice_id)
    if state.status in ("draft", "open"):
        return _StripeAnswer(done=True, note=f"nothing sent to Stripe, which keeps collecting {state.id}")
    return _settled_at_stripe(invoice, state, to_status=S.FAILED)


def _settled_at_stripe(invoice: Invoice, state: StripeInvoiceState, *, to_status: str) -> _StripeAnswer:
    """Stripe's invoice is already paid, void or uncollectible: done if that is what staff asked for (an earlier try
    whose answer was lost, or the Stripe Dashboard), else Stripe's status is applied here and the request refused."""
    if to_status == S.PAID and state.status == "paid" and (state.amount_paid_off_stripe or not state.amount_paid):
        # Paid out of band before (nothing was charged), or settled with nothing to charge (a zero total).
        return _StripeAnswer(done=True, note=f"Stripe {state.id} was already settled without a charge")
    if to_status == S.VOID and state.status == "void":
        return _StripeAnswer(done=True, note=f"Stripe {state.id} was already void")
    stripe_status = stripe_sync.STRIPE_STATUS.get(state.status)
    amount = money(state.amount_paid, state.currency)
    if to_status == S.PAID and stripe_status == S.PAID:
        message, code = ERR_COLLECTED_AT_STRIPE.format(number=invoice.number, amount=amount), "already_paid_at_stripe"
    elif to_status == S.VOID and stripe_status == S.PAID:
        message, code = ERR_COLLECTED_NOT_VOID.format(number=invoice.number, amount=amount), "already_paid_at_stripe"
    else:
        # The local status after Stripe's has been applied; where that is no forward move, it stays as it is.
        after = stripe_status if stripe_status in stripe_sync.STRIPE_TRANSITIONS[invoice.status] else invoice.status
        message = ERR_SETTLED_AT_STRIPE.format(
            number=invoice.number, stripe_status=state.status, status=after, to_status=to_status
        )
        code = None
    return _StripeAnswer(done=False, stripe_status=stripe_status, refusal=message, refusal_code=code)


def _complete_draft(invoice: Invoice) -> None:
    """Add what a stopped sync had not yet put on the Stripe draft, so it is settled for the invoice's full amount."""
    items, _ = stripe_sync.invoice_stripe_items(invoice)
    if len(items) > stripe_gateway.MAX_INVOICE_ITEMS:
        raise StripeActionError(ERR_TOO_MANY_ITEMS.format(number=invoice.number), code="stripe_refused")
    customer_id = invoice.stripe_customer_id or stripe_gateway.customer_ensure(user=invoice.user).id
    stripe_sync.invoice_stripe_items_add(
        invoice, items, customer_id=customer_id, stripe_invoice_id=invoice.stripe_invoice_id
    )
