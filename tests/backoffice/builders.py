"""Rows written straight through the ORM, so each metric can be checked against a data set with known numbers."""

import hashlib
import itertools
from datetime import date, datetime, timedelta

from djstripe.models import WebhookEventTrigger

from accounts.models import User
from billing.models import Invoice, InvoiceEvent, InvoiceLine
from cases.models import Case
from claims.models import Claim
from leads.models import Delivery, Lead
from tests.factories import CaseFactory, UserFactory

_seq = itertools.count(1)


def invoice(user: User, day: date, cents: int, status: str = Invoice.Status.OPEN, currency: str = "usd") -> Invoice:
    return Invoice.objects.create(
        user=user,
        invoice_date=day,
        number=f"T-{next(_seq):06d}",
        currency=currency,
        subtotal_cents=cents,
        total_cents=cents,
        status=status,
        due_date=day + timedelta(days=1),
    )


def failed_once(invoice: Invoice) -> None:
    """The audit row a payment failure writes (whatever became of the invoice since)."""
    InvoiceEvent.objects.create(invoice=invoice, from_status="open", to_status="failed", reason="card declined")


def line(invoice: Invoice, day: date, cents: int, credit_for: InvoiceLine | None = None) -> InvoiceLine:
    return InvoiceLine.objects.create(
        invoice=invoice,
        description="Case-day",
        service_date=day,
        quantity=1,
        unit_amount_cents=cents,
        amount_cents=cents,
        credit_for=credit_for,
    )


def claim(
    user: User | None = None,
    *,
    claimed_at: datetime,
    released_at: datetime | None = None,
    status: str | None = None,
    cents: int = 1000,
    currency: str = "usd",
    expires_at: datetime | None = None,
    case: Case | None = None,
) -> Claim:
    user = user or UserFactory()
    case = case or CaseFactory()
    if status is None:
        status = Claim.Status.ACTIVE if released_at is None else Claim.Status.RELEASED
    if status == Claim.Status.ACTIVE:
        Case.objects.filter(pk=case.pk).update(assigned_to=user, assigned_at=claimed_at)
    return Claim.objects.create(
        case=case,
        user=user,
        status=status,
        claimed_at=claimed_at,
        released_at=released_at,
        expires_at=expires_at,
        score_at_claim=case.score,
        daily_price_cents=cents,
        currency=currency,
    )


def lead(plz: str | None, received_at: datetime, status: str = Lead.Status.READY) -> Lead:
    n = next(_seq)
    return Lead.objects.create(
        sha256=hashlib.sha256(f"lead-{n}".encode()).hexdigest(),
        pdf=f"leads/test-{n}.pdf",
        filename="lead.pdf",
        plz=plz,
        status=status,
        received_at=received_at,
    )


def delivery(lead: Lead, status: str, *, sent_at: datetime | None = None, due_at: datetime | None = None) -> Delivery:
    return Delivery.objects.create(
        lead=lead,
        subscriber=UserFactory(),
        position=Delivery.Position.FIRST,
        due_at=due_at or lead.received_at,
        status=status,
        sent_at=sent_at,
    )


def webhook(created: datetime, *, valid: bool, processed: bool) -> WebhookEventTrigger:
    trigger = WebhookEventTrigger.objects.create(
        remote_ip="127.0.0.1",
        headers={},
        body="{}",
        valid=valid,
        processed=processed,
        exception="" if processed else "boom",
    )
    WebhookEventTrigger.objects.filter(pk=trigger.pk).update(created=created)  # auto_now_add: set it afterwards
    return trigger
