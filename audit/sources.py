"""The audit sources a timeline is read from, and how each row is described.

A source is one table (claim events, document accesses, invoice status changes, Stripe events, lead deliveries,
lead events, logins, admin changes) with a query per subject (a case, a user), the Django permission a viewer needs
to see it, and a function turning one row into an `Entry`. Reading, merging and paging are in selectors.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import cached_property
from typing import Any

from axes.models import AccessLog
from django.contrib.admin.models import ADDITION, DELETION, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import CharField, Model, Prefetch, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Customer, Event, WebhookEventTrigger

from accounts.models import User
from billing.models import Invoice, InvoiceEvent, InvoiceLine
from cases.models import Case, DocumentAccess
from claims.models import ClaimEvent
from jsn.lib.control_room import plain_id
from leads.models import Delivery, LeadEvent, PlzSubscription


class Kind(StrEnum):
    CLAIM = "claim"
    DOCUMENT = "document"
    INVOICE = "invoice"
    STRIPE = "stripe"
    LEAD = "lead"
    LOGIN = "login"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return KIND_LABELS[self]


KIND_LABELS = {
    Kind.CLAIM: "Claims",
    Kind.DOCUMENT: "Document access",
    Kind.INVOICE: "Invoice status",
    Kind.STRIPE: "Stripe webhooks",
    Kind.LEAD: "Leads",
    Kind.LOGIN: "Logins",
    Kind.ADMIN: "Admin changes",
}


# One entry's badge: what the row is.
BADGES = {
    Kind.CLAIM: "Claim",
    Kind.DOCUMENT: "Document",
    Kind.INVOICE: "Invoice",
    Kind.STRIPE: "Stripe",
    Kind.LEAD: "Lead",
    Kind.LOGIN: "Login",
    Kind.ADMIN: "Admin",
}


class Subject(StrEnum):
    CASE = "case"
    USER = "user"


@dataclass
class Entry:
    """One row of a timeline. `note` is free text someone typed (a reason, a change message): it is the only part
    that could repeat a contact's details, so it alone is checked for support staff."""

    at: datetime
    kind: Kind
    rank: int
    pk: int
    title: str
    summary: str = ""
    note: str = ""
    actor: str = ""
    tone: str = "neutral"  # ok | warn | bad | neutral: the colour of the row's marker
    links: list[tuple[str, str]] = field(default_factory=list)
    case_id: int | None = None

    @property
    def kind_label(self) -> str:
        return BADGES[self.kind]


class UserContext:
    """What a user's sources need besides the id; each part costs a query only when a source asks for it."""

    def __init__(self, user: User) -> None:
        self.user = user

    @cached_property
    def stripe_customer_ids(self) -> list[str]:
        """The user's Stripe customers: dj-stripe's mirror, and the ids our invoices were sent with (one query)."""
        mirrored = Customer.objects.filter(subscriber_id=self.user.pk).order_by().values_list("id", flat=True)
        invoiced = (
            Invoice.objects.filter(user_id=self.user.pk, stripe_customer_id__isnull=False)
            .order_by()
            .values_list("stripe_customer_id", flat=True)
        )
        return sorted(set(mirrored.union(invoiced)))


# --- Describing rows ----------------------------------------------------------------------------------------------


def _email(user: User | None, default: str = "system") -> str:
    return user.email if user is not None else default


def _admin_link(label: str, name: str, pk: object) -> tuple[str, str]:
    return label, reverse(f"admin:{name}_change", args=[pk])


def _expiry(at: datetime | None) -> str:
    return f"{timezone.localtime(at):%Y-%m-%d %H:%M}" if at is not None else "never"


def _describe_claim_event(event: ClaimEvent) -> Entry:
    action = event.Action(event.action)
    if action == ClaimEvent.Action.REASSIGNED:
        summary = f"{_email(event.from_user, '—')} → {_email(event.to_user, '—')}"
    elif action == ClaimEvent.Action.CLAIMED:
        summary = f"now held by {_email(event.to_user, '—')}"
    elif action == ClaimEvent.Action.EXPIRY_CHANGED:
        summary = (
            f"expires {_expiry(event.expires_before)} → {_expiry(event.expires_after)}"
            f" · held by {_email(event.to_user, '—')}"
        )
    else:
        summary = f"no longer held by {_email(event.from_user, '—')}"
    tone = {"claimed": "ok", "reassigned": "warn", "expired": "neutral", "released": "neutral"}.get(
        action.value, "neutral"
    )
    return Entry(
        at=event.created_at,
        kind=Kind.CLAIM,
        rank=0,
        pk=event.pk,
        title=f"{action.label}: case #{event.case_id}",
        summary=summary,
        note=event.reason,
        actor=_email(event.actor),
        tone=tone,
        links=[_admin_link(f"Claim #{event.claim_id}", "claims_claim", event.claim_id)],
        case_id=event.case_id,
    )


def _describe_document_access(access: DocumentAccess) -> Entry:
    # The document's kind only, never its title: titles name the case's parties (see masking.present_document_title).
    document = f"{access.document.get_kind_display()} #{access.document_id}" if access.document_id else "a document"
    refused = access.result == DocumentAccess.Result.REFUSED
    summary = f"case #{access.case_id}" if access.case_id else ""
    if refused:
        summary = f"{summary} · {access.get_reason_display()}".strip(" ·")
    if access.ip:
        summary = f"{summary} · from {access.ip}".strip(" ·")
    return Entry(
        at=access.created_at,
        kind=Kind.DOCUMENT,
        rank=1,
        pk=access.pk,
        title=f"{access.get_action_display()} of {document}: {access.get_result_display().lower()}",
        summary=summary,
        actor=_email(access.user, "not logged in"),
        tone="bad" if refused else "ok",
        case_id=access.case_id,
    )


def _describe_invoice_event(event: InvoiceEvent) -> Entry:
    invoice = event.invoice
    tone = {Invoice.Status.PAID: "ok", Invoice.Status.FAILED: "bad", Invoice.Status.VOID: "warn"}.get(
        event.to_status, "neutral"
    )
    return Entry(
        at=event.created_at,
        kind=Kind.INVOICE,
        rank=2,
        pk=event.pk,
        title=f"Invoice {invoice.number}: {event.get_from_status_display() or 'new'} → {event.get_to_status_display()}",
        summary=f"{invoice.user.email} · billing day {invoice.invoice_date:%Y-%m-%d}",
        note=event.reason,
        actor=_email(event.actor),
        tone=tone,
        links=[_admin_link(f"Invoice {invoice.number}", "billing_invoice", invoice.pk)],
    )


def _describe_stripe_event(event: Event) -> Entry:
    triggers = list(event.webhookeventtrigger_set.all())
    if not triggers:
        delivery, tone = "not received by webhook (synced)", "neutral"
    elif any(t.processed for t in triggers):
        delivery, tone = "webhook processed", "ok"
    else:
        failed = next((t for t in triggers if t.exception), None)
        delivery = f"webhook failed: {failed.exception}" if failed else "webhook not processed"
        tone = "bad"
    retries = f" ({len(triggers)} deliveries)" if len(triggers) > 1 else ""
    return Entry(
        at=event.djstripe_created,
        kind=Kind.STRIPE,
        rank=3,
        pk=event.djstripe_id,
        title=f"Stripe {event.type}",
        summary=f"{event.object_ref or '—'} · {delivery}{retries}",
        actor="Stripe",
        tone=tone,
        links=[_admin_link(event.id, "djstripe_event", event.djstripe_id)],
    )


def _describe_delivery(delivery: Delivery) -> Entry:
    tone = {
        Delivery.Status.SENT: "ok",
        Delivery.Status.DELIVERED: "ok",
        Delivery.Status.BOUNCED: "bad",
        Delivery.Status.FAILED: "bad",
        Delivery.Status.SKIPPED: "warn",
    }.get(delivery.status, "neutral")
    sent = f", sent {timezone.localtime(delivery.sent_at):%Y-%m-%d %H:%M}" if delivery.sent_at else ""
    return Entry(
        at=delivery.created_at,
        kind=Kind.LEAD,
        rank=4,
        pk=delivery.pk,
        title=f"Lead #{delivery.lead_id} planned for {delivery.subscriber.email}",
        summary=(
            f"PLZ {delivery.lead.plz or '?'} · {delivery.get_position_display()} · due "
            f"{timezone.localtime(delivery.due_at):%Y-%m-%d %H:%M} · now {delivery.get_status_display().lower()}{sent}"
        ),
        note=delivery.last_error,
        actor="system",
        tone=tone,
        links=[_admin_link(f"Delivery #{delivery.pk}", "leads_delivery", delivery.pk)],
    )


def _describe_lead_event(event: LeadEvent) -> Entry:
    parts = [f"lead #{event.lead_id}" if event.lead_id else ""]
    if event.delivery_id:
        parts.append(f"delivery #{event.delivery_id}")
    if event.subscription_id:
        parts.append(f"PLZ {event.subscription.plz} subscription #{event.subscription_id}")
    refused = event.action == LeadEvent.Action.DOWNLOAD_REFUSED
    return Entry(
        at=event.created_at,
        kind=Kind.LEAD,
        rank=5,
        pk=event.pk,
        title=event.get_action_display(),
        summary=" · ".join(p for p in parts if p),
        actor=_email(event.actor),
        tone="bad" if refused else "neutral",
        links=[_admin_link(f"Lead #{event.lead_id}", "leads_lead", event.lead_id)] if event.lead_id else [],
    )


def _describe_access_log(log: AccessLog) -> Entry:
    logout = f" · logged out {timezone.localtime(log.logout_time):%Y-%m-%d %H:%M}" if log.logout_time else ""
    return Entry(
        at=log.attempt_time,
        kind=Kind.LOGIN,
        rank=6,
        pk=log.pk,
        title="Logged in",
        summary=f"from {log.ip_address or 'unknown address'} · {log.path_info}{logout}",
        note=log.user_agent,
        actor=log.username or "",
        tone="ok",
    )


def _describe_log_entry(entry: LogEntry) -> Entry:
    verb = {ADDITION: "Added", DELETION: "Deleted"}.get(entry.action_flag, "Changed")
    model = entry.content_type.name if entry.content_type_id else "object"
    case_id = None
    if entry.content_type_id and entry.content_type.model_class() is Case:
        case_id = plain_id(entry.object_id)
    return Entry(
        at=entry.action_time,
        kind=Kind.ADMIN,
        rank=7,
        pk=entry.pk,
        title=f"{verb} {model}: {entry.object_repr}",
        note=entry.get_change_message(),
        actor=_email(entry.user),
        tone="bad" if entry.action_flag == DELETION else "neutral",
        case_id=case_id,
    )


# --- Sources ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One audit table. `for_case` / `for_user` give the subject's rows as a few *branches*: querysets over the
    table, each narrow enough for one index (a subject's rows are the union of its branches). A branch is never
    an OR across columns: PostgreSQL would have to collect and sort every matching row before the LIMIT."""

    key: str
    kind: Kind
    rank: int  # orders rows of different sources at the same instant; unique per source
    permission: str  # the Django permission a viewer needs to see this source's rows
    time_field: str
    describe: Callable[[Any], Entry]
    rows: Callable[[], QuerySet]  # the table as its rows are shown: related rows joined, heavy columns left out
    for_case: Callable[[int], list[QuerySet]] | None = None
    for_user: Callable[[UserContext], list[QuerySet]] | None = None


def _json_text(path: str) -> Any:
    """The text at `path` in the JSON. On PostgreSQL exactly the expression the indexes in audit/migrations are built
    on. On SQLite (the local demo) cast to text: Django compares a KT() with `=` / `IN` there by parsing each
    parameter as JSON (`JSON_EXTRACT('cus_…', '$')`), which fails with "malformed JSON" for a plain id."""
    text = KT(path)
    return text if connection.vendor == "postgresql" else Cast(text, CharField())


def _stripe_keys() -> QuerySet[Event]:
    """Events with the object and customer they concern pulled out of the JSON."""
    return Event.objects.annotate(
        object_ref=_json_text("data__object__id"), customer_ref=_json_text("data__object__customer")
    )


def _stripe_rows() -> QuerySet[Event]:
    """Events without their payload (one can be tens of kilobytes), with their webhook deliveries."""
    return (
        _stripe_keys()
        .only("djstripe_id", "id", "type", "djstripe_created")
        .prefetch_related(
            Prefetch(
                "webhookeventtrigger_set",
                queryset=WebhookEventTrigger.objects.only("id", "event_id", "processed", "valid", "exception"),
            )
        )
    )


def _invoice_ids_for_case(case_id: int) -> QuerySet:
    return InvoiceLine.objects.filter(case_id=case_id).values("invoice_id")


def _stripe_for_user(ctx: UserContext) -> list[QuerySet]:
    ids = ctx.stripe_customer_ids
    if not ids:
        return []  # no Stripe customer: nothing to link, and no query
    # A customer's own events name it as the object; every other event (invoice, payment method, subscription)
    # names it in `customer`.
    return [_stripe_keys().filter(customer_ref__in=ids), _stripe_keys().filter(object_ref__in=ids)]


def _admin_log_for(model: type[Model], pk: int) -> QuerySet[LogEntry]:
    return LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(model), object_id=str(pk))


SOURCES: tuple[Source, ...] = (
    Source(
        key="claim_event",
        kind=Kind.CLAIM,
        rank=0,
        permission="claims.view_claimevent",
        time_field="created_at",
        describe=_describe_claim_event,
        rows=lambda: ClaimEvent.objects.select_related("actor", "from_user", "to_user"),
        for_case=lambda case_id: [ClaimEvent.objects.filter(case_id=case_id)],
        # Claims they got, claims they lost, and what they did (staff act on other people's claims).
        for_user=lambda ctx: [
            ClaimEvent.objects.filter(to_user_id=ctx.user.pk),
            ClaimEvent.objects.filter(from_user_id=ctx.user.pk),
            ClaimEvent.objects.filter(actor_id=ctx.user.pk),
        ],
    ),
    Source(
        key="document_access",
        kind=Kind.DOCUMENT,
        rank=1,
        permission="cases.view_documentaccess",
        time_field="created_at",
        describe=_describe_document_access,
        rows=lambda: DocumentAccess.objects.select_related("user", "document"),
        for_case=lambda case_id: [DocumentAccess.objects.filter(case_id=case_id)],
        for_user=lambda ctx: [DocumentAccess.objects.filter(user_id=ctx.user.pk)],
    ),
    Source(
        key="invoice_event",
        kind=Kind.INVOICE,
        rank=2,
        permission="billing.view_invoice",
        time_field="created_at",
        describe=_describe_invoice_event,
        rows=lambda: InvoiceEvent.objects.select_related("invoice__user", "actor"),
        # A case's invoices are those with a line for it.
        for_case=lambda case_id: [InvoiceEvent.objects.filter(invoice_id__in=_invoice_ids_for_case(case_id))],
        for_user=lambda ctx: [
            InvoiceEvent.objects.filter(invoice_id__in=Invoice.objects.filter(user_id=ctx.user.pk).values("pk")),
            InvoiceEvent.objects.filter(actor_id=ctx.user.pk),
        ],
    ),
    Source(
        key="stripe_event",
        kind=Kind.STRIPE,
        rank=3,
        permission="djstripe.view_event",
        time_field="djstripe_created",
        describe=_describe_stripe_event,
        rows=_stripe_rows,
        # A case is linked to Stripe through the invoices that billed it.
        for_case=lambda case_id: [
            _stripe_keys().filter(
                object_ref__in=Invoice.objects.filter(
                    pk__in=_invoice_ids_for_case(case_id), stripe_invoice_id__isnull=False
                ).values("stripe_invoice_id")
            )
        ],
        for_user=_stripe_for_user,
    ),
    Source(
        key="delivery",
        kind=Kind.LEAD,
        rank=4,
        permission="leads.view_delivery",
        time_field="created_at",
        describe=_describe_delivery,
        rows=lambda: Delivery.objects.select_related("lead", "subscriber"),
        for_user=lambda ctx: [Delivery.objects.filter(subscriber_id=ctx.user.pk)],
    ),
    Source(
        key="lead_event",
        kind=Kind.LEAD,
        rank=5,
        permission="leads.view_leadevent",
        time_field="created_at",
        describe=_describe_lead_event,
        rows=lambda: LeadEvent.objects.select_related("actor", "subscription"),
        for_user=lambda ctx: [
            LeadEvent.objects.filter(actor_id=ctx.user.pk),
            LeadEvent.objects.filter(delivery_id__in=Delivery.objects.filter(subscriber_id=ctx.user.pk).values("pk")),
            LeadEvent.objects.filter(
                subscription_id__in=PlzSubscription.objects.filter(user_id=ctx.user.pk).values("pk")
            ),
        ],
    ),
    Source(
        key="access_log",
        kind=Kind.LOGIN,
        rank=6,
        permission="axes.view_accesslog",
        time_field="attempt_time",
        describe=_describe_access_log,
        rows=lambda: AccessLog.objects.all(),
        for_user=lambda ctx: [AccessLog.objects.filter(username=ctx.user.email)],
    ),
    Source(
        key="admin_log",
        kind=Kind.ADMIN,
        rank=7,
        permission="admin.view_logentry",
        time_field="action_time",
        describe=_describe_log_entry,
        rows=lambda: LogEntry.objects.select_related("user", "content_type"),
        for_case=lambda case_id: [_admin_log_for(Case, case_id)],
        # Changes made to the account, and changes the user made (staff).
        for_user=lambda ctx: [_admin_log_for(User, ctx.user.pk), LogEntry.objects.filter(user_id=ctx.user.pk)],
    ),
)


def sources_for(subject: Subject) -> list[Source]:
    attr = "for_case" if subject == Subject.CASE else "for_user"
    return [source for source in SOURCES if getattr(source, attr) is not None]
