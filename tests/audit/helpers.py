"""Builders for audit timeline tests: one row of every audit source at a chosen time."""

import itertools
from datetime import UTC, date, datetime, timedelta

from axes.models import AccessLog
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from djstripe.models import Customer, Event, WebhookEventTrigger

from accounts.models import User
from billing.models import Invoice, InvoiceEvent, InvoiceLine
from cases.models import Case, Document, DocumentAccess
from claims.models import Claim, ClaimEvent
from leads.models import Delivery, Lead, LeadEvent, PlzSubscription
from tests.factories import ClaimFactory, DocumentFactory

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
_seq = itertools.count(1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def claim_event(
    *,
    case: Case,
    when: datetime,
    action: str = ClaimEvent.Action.CLAIMED,
    to_user: User | None = None,
    from_user: User | None = None,
    actor: User | None = None,
    reason: str = "",
    claim: Claim | None = None,
) -> ClaimEvent:
    if claim is None:
        claim = ClaimFactory(
            case=case,
            user=to_user or from_user,
            status=Claim.Status.RELEASED,
            claimed_at=when,
            released_at=when,
        )
    return ClaimEvent.objects.create(
        action=action,
        actor=actor or to_user,
        case=case,
        claim=claim,
        from_user=from_user,
        to_user=to_user,
        reason=reason,
        created_at=when,
    )


def document_access(*, case: Case, user: User | None, when: datetime, refused: bool = False) -> DocumentAccess:
    document = Document.objects.filter(case=case).first() or DocumentFactory(case=case)
    return DocumentAccess.objects.create(
        action=DocumentAccess.Action.DOWNLOAD,
        result=DocumentAccess.Result.REFUSED if refused else DocumentAccess.Result.ALLOWED,
        reason=DocumentAccess.Reason.NOT_OWNER if refused else DocumentAccess.Reason.OK,
        user=user,
        document=document,
        case=case,
        ip="203.0.113.9",
        created_at=when,
    )


def invoice(*, user: User, case: Case | None = None, day: date | None = None, stripe_id: str | None = None) -> Invoice:
    n = next(_seq)
    day = day or date(2026, 11, 1) + timedelta(days=n)
    inv = Invoice.objects.create(
        user=user,
        invoice_date=day,
        number=f"JSN-T-{n:05d}",
        currency="usd",
        subtotal_cents=1000,
        total_cents=1000,
        due_date=day,
        stripe_invoice_id=stripe_id,
        stripe_customer_id=f"cus_for_{user.pk}" if stripe_id else None,
    )
    if case is not None:
        InvoiceLine.objects.create(
            invoice=inv,
            case=case,
            case_number=case.case_number,
            description=f"Case #{case.pk}",
            service_date=day,
            unit_amount_cents=1000,
            amount_cents=1000,
        )
    return inv


def invoice_event(*, inv: Invoice, when: datetime, to_status: str = "paid", actor: User | None = None) -> InvoiceEvent:
    event = InvoiceEvent.objects.create(
        invoice=inv, actor=actor, from_status="open", to_status=to_status, reason="Paid by wire"
    )
    InvoiceEvent.objects.filter(pk=event.pk).update(created_at=when)  # auto_now_add: set the time afterwards
    event.created_at = when
    return event


def stripe_event(
    *, when: datetime, object_id: str, customer: str | None = None, processed: bool = True, kind: str = "invoice.paid"
) -> Event:
    n = next(_seq)
    data = {"object": {"id": object_id, "object": kind.split(".")[0], **({"customer": customer} if customer else {})}}
    event = Event.objects.create(id=f"evt_test_{n}", type=kind, data=data, livemode=False)
    Event.objects.filter(pk=event.pk).update(djstripe_created=when)
    WebhookEventTrigger.objects.create(
        remote_ip="127.0.0.1",
        headers={},
        body="{}",
        valid=True,
        processed=processed,
        exception="" if processed else "KeyError",
        event=event,
    )
    return event


def stripe_customer(*, user: User) -> Customer:
    return Customer.objects.create(id=f"cus_test_{user.pk}", subscriber=user, livemode=False)


def lead_delivery(*, user: User, when: datetime) -> Delivery:
    n = next(_seq)
    lead = Lead.objects.create(sha256=f"{n:064d}", pdf="leads/x.pdf", plz="10115", status=Lead.Status.DISTRIBUTED)
    delivery = Delivery.objects.create(
        lead=lead, subscriber=user, position=Delivery.Position.FIRST, due_at=when, status=Delivery.Status.SENT
    )
    Delivery.objects.filter(pk=delivery.pk).update(created_at=when)
    return delivery


def lead_event(*, user: User, when: datetime, actor: User | None = None) -> LeadEvent:
    subscription = PlzSubscription.objects.create(
        user=user, plz=f"{10000 + next(_seq)}", status="active", source="manual"
    )
    return LeadEvent.objects.create(
        action=LeadEvent.Action.SUBSCRIPTION_GRANTED, actor=actor, subscription=subscription, created_at=when
    )


def login(*, user: User, when: datetime) -> AccessLog:
    log = AccessLog.objects.create(
        username=user.email, ip_address="198.51.100.7", user_agent="Firefox", http_accept="*/*", path_info="/login/"
    )
    AccessLog.objects.filter(pk=log.pk).update(attempt_time=when)
    return log


def admin_change(*, obj: object, by: User, when: datetime, message: str = "Changed score.") -> LogEntry:
    return LogEntry.objects.create(
        user=by,
        content_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj),
        action_flag=CHANGE,
        change_message=message,
        action_time=when,
    )


def grant(user: User, *codenames: str) -> User:
    """Give user permissions by "app_label.codename"; returns a fresh instance (Django caches permissions)."""
    for name in codenames:
        app_label, codename = name.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)
