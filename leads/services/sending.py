"""Send due deliveries at most once: lease, compare-and-set `sending`, send, mark sent. See the package doc."""

import logging
import smtplib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from anymail.exceptions import AnymailAPIError, AnymailInvalidAddress, AnymailRecipientsRefused
from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.message import make_msgid
from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone
from django.utils.html import escape, linebreaks

from accounts.models import User
from jsn.lib.mail import mail_body, mail_subject
from leads.models import (
    Delivery,
    Lead,
    LeadEvent,
    PlzSubscription,
    eligible_subscriptions_q,
)
from leads.services.common import (
    AMBIGUOUS_AFTER,
    ERR_LEAD_NOT_DISTRIBUTED,
    ERR_NOT_AMBIGUOUS,
    ERR_NOT_ELIGIBLE,
    ERR_RESEND_IN_FLIGHT,
    ERR_RESEND_PENDING,
    MAX_SEND_ATTEMPTS,
    RETRY_BACKOFF,
    SEND_LEASE,
    LeadError,
    _hours,
)

# The mail server said no, or could not be reached at all: the message was not accepted, so sending it again
# cannot duplicate it.
SMTP_REFUSALS = (
    smtplib.SMTPRecipientsRefused,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPDataError,
    smtplib.SMTPConnectError,
    ConnectionRefusedError,
    # A provider's API (anymail) refusing the recipient or the address: nothing was accepted either.
    AnymailRecipientsRefused,
    AnymailInvalidAddress,
)

logger = logging.getLogger(__name__)


@dataclass
class SendReport:
    sent: int = 0
    skipped: int = 0
    retried: int = 0
    failed: int = 0
    ambiguous: int = 0
    errors: list[str] = field(default_factory=list)


DUE_STATUSES = (Delivery.Status.PLANNED, Delivery.Status.QUEUED)


def _deliveries_lease_due(*, now: datetime, batch: int) -> list[Delivery]:
    """Lease a batch of due deliveries to this run. SKIP LOCKED keeps overlapping runs on different rows; the
    lease keeps them apart after this short transaction, and expires so a crashed run's rest is picked up later.
    """
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status__in=DUE_STATUSES, due_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .order_by("due_at", "id")
            .values_list("id", flat=True)[:batch]
        )
        if not ids:
            return []
        Delivery.objects.filter(pk__in=ids).update(lease_until=now + SEND_LEASE)
    rows = list(Delivery.objects.filter(pk__in=ids).select_related("lead", "subscriber").order_by("due_at", "id"))
    recipients = dict(
        Delivery.objects.filter(lead_id__in={d.lead_id for d in rows})
        .values("lead_id")
        .annotate(n=Count("id"))
        .values_list("lead_id", "n")
    )
    for delivery in rows:
        delivery.lead.recipient_count = recipients.get(delivery.lead_id, 1)
    return rows


def _delivery_start(*, delivery: Delivery, now: datetime, report: SendReport) -> bool:
    """Commit `sending` before the e-mail leaves — in one compare-and-set that re-checks, at this very moment,
    that the row is still due, the lead still distributed and the subscriber still paid. False: do not send.
    """
    paid = PlzSubscription.objects.filter(
        eligible_subscriptions_q(now),
        user_id=OuterRef("subscriber_id"),
        plz=OuterRef("lead__plz"),
        user__is_active=True,
    )
    started = (
        Delivery.objects.filter(pk=delivery.pk, status__in=DUE_STATUSES, lead__status=Lead.Status.DISTRIBUTED)
        .filter(Exists(paid))
        .update(status=Delivery.Status.SENDING, sending_started_at=now, attempts=F("attempts") + 1, updated_at=now)
    )
    if started:
        delivery.status = Delivery.Status.SENDING
        delivery.attempts += 1
        return True
    # Still due after a failed compare-and-set means: not eligible now (another run taking it changes the status).
    lead = delivery.lead
    reason = (
        ERR_LEAD_NOT_DISTRIBUTED.format(status=lead.status)
        if lead.status != Lead.Status.DISTRIBUTED
        else ERR_NOT_ELIGIBLE.format(plz=lead.plz)
    )
    if Delivery.objects.filter(pk=delivery.pk, status__in=DUE_STATUSES).update(
        status=Delivery.Status.SKIPPED, last_error=reason, lease_until=None, updated_at=now
    ):
        report.skipped += 1
    return False


def _refused(exc: BaseException) -> bool:
    """The provider answered and said no: the message was not accepted, so another attempt cannot duplicate it."""
    if isinstance(exc, SMTP_REFUSALS):
        return True
    # A provider's API answering 4xx refused the request; 5xx or no answer may have accepted it.
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return isinstance(exc, AnymailAPIError) and status is not None and 400 <= status < 500


def _provider_message_id(message: EmailMultiAlternatives) -> str:
    """The id the provider gave this message (anymail backends), which its tracking webhooks name; else ""."""
    status = getattr(message, "anymail_status", None)
    message_id = getattr(status, "message_id", None)
    return str(message_id)[:255] if isinstance(message_id, str | int) else ""


def _lead_email(*, delivery: Delivery, recipient: User, pdf: bytes, message_id: str) -> EmailMultiAlternatives:
    lead = delivery.lead
    received = timezone.localtime(lead.received_at).strftime("%Y-%m-%d %H:%M %Z")
    hours = _hours()
    if delivery.position == Delivery.Position.FIRST:
        if getattr(lead, "recipient_count", 2) > 1:
            until = timezone.localtime(delivery.due_at + timedelta(hours=hours)).strftime("%Y-%m-%d %H:%M %Z")
            exclusivity = (
                f"You receive this lead first: it is yours exclusively for {hours} hours, until {until}. "
                "After that the other agents subscribed to this PLZ receive it too."
            )
            subject = f"New lead for PLZ {lead.plz} — exclusive for you for {hours} hours"
        else:
            exclusivity = "You are the only agent subscribed to this PLZ: nobody else receives this lead."
            subject = f"New lead for PLZ {lead.plz} — exclusive for you"
    else:
        exclusivity = (
            f"This lead was offered exclusively to another agent for {hours} hours first; "
            "it now goes to every agent subscribed to this PLZ."
        )
        subject = f"New lead for PLZ {lead.plz}"
    body = mail_body(
        f"A new lead has arrived for your PLZ subscription {lead.plz}.",
        f"PLZ: {lead.plz}\nReceived: {received}\nLead number: {lead.pk}",
        exclusivity,
        f"The lead sheet is attached as a PDF. You can download it again from {settings.SITE_URL}/leads/received/.",
    )
    message = EmailMultiAlternatives(
        subject=mail_subject(subject),
        body=body,
        to=[recipient.email],
        headers={"Message-ID": message_id, "X-JSN-Lead": str(lead.pk), "X-JSN-Delivery": str(delivery.pk)},
    )
    # Providers can only report opens of HTML mail (a tracking pixel): the same text as a minimal HTML part.
    message.attach_alternative(linebreaks(escape(body)), "text/html")
    message.attach(f"lead-{lead.pk}-plz-{lead.plz}.pdf", pdf, "application/pdf")
    # Read by anymail backends only; other backends ignore these attributes.
    message.track_opens = True
    message.metadata = {"jsn_delivery": str(delivery.pk)}
    return message


def deliveries_send_due(*, now: datetime | None = None, batch: int = 200) -> SendReport:
    """Send every due delivery at most once. Safe with overlapping runs and after crashes (see module doc)."""
    now = now or timezone.now()
    report = SendReport()
    rows = _deliveries_lease_due(now=now, batch=batch)
    if not rows:
        return report
    pdfs: dict[int, bytes] = {}
    connection = get_connection()
    try:
        for delivery in rows:
            if not _delivery_start(delivery=delivery, now=now, report=report):
                continue
            lead = delivery.lead
            message_id = make_msgid(domain="jsn.local")
            handed_over = False
            try:
                if lead.pk not in pdfs:
                    with lead.pdf.open("rb") as fh:
                        pdfs[lead.pk] = fh.read()
                message = _lead_email(
                    delivery=delivery, recipient=delivery.subscriber, pdf=pdfs[lead.pk], message_id=message_id
                )
                handed_over = True
                connection.send_messages([message])
            # Errors before the hand-over, and the server's explicit refusals, mean nothing was sent: a bounded
            # retry is safe. Anything else during the hand-over (a timeout, a dropped connection after DATA) may
            # have delivered the e-mail, so the row stays in `sending` for staff, like a crash (never re-sent).
            except Exception as exc:  # noqa: BLE001
                error = f"{type(exc).__name__}: {exc}"[:500]
                if handed_over and not _refused(exc):
                    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
                        last_error=f"ambiguous: {error}"[:500], updated_at=now
                    )
                    report.errors.append(error)
                    logger.error("lead delivery %s: send outcome unknown, left for staff: %s", delivery.pk, error)
                    continue
                report.errors.append(error)
                if delivery.attempts >= MAX_SEND_ATTEMPTS:
                    status, due_at = Delivery.Status.FAILED, delivery.due_at
                    report.failed += 1
                else:
                    status, due_at = Delivery.Status.QUEUED, now + RETRY_BACKOFF * delivery.attempts
                    report.retried += 1
                Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
                    status=status, due_at=due_at, last_error=error, lease_until=None, updated_at=now
                )
                logger.warning("lead delivery %s failed (attempt %s): %s", delivery.pk, delivery.attempts, error)
                continue
            Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
                status=Delivery.Status.SENT,
                sent_at=now,
                message_id=message_id,
                provider_message_id=_provider_message_id(message),
                last_error="",
                lease_until=None,
                updated_at=now,
            )
            report.sent += 1
    finally:
        connection.close()
    return report


def deliveries_ambiguous_count(*, now: datetime | None = None) -> int:
    now = now or timezone.now()
    return Delivery.objects.filter(status=Delivery.Status.SENDING, sending_started_at__lt=now - AMBIGUOUS_AFTER).count()


def delivery_resend(*, actor: User, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Staff: send this lead to this subscriber again (lost e-mail, bounce, ambiguous send). Audited.

    Eligibility is still checked at send time: an unpaid subscriber gets nothing, even on a re-send.
    """
    now = now or timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status in (Delivery.Status.PLANNED, Delivery.Status.QUEUED):
            raise LeadError(ERR_RESEND_PENDING)
        if delivery.status == Delivery.Status.SENDING and (
            delivery.sending_started_at and delivery.sending_started_at >= now - AMBIGUOUS_AFTER
        ):
            raise LeadError(ERR_RESEND_IN_FLIGHT)
        previous = delivery.status
        delivery.status = Delivery.Status.QUEUED
        delivery.due_at = now
        delivery.last_error = ""
        delivery.lease_until = None
        delivery.save(update_fields=["status", "due_at", "last_error", "lease_until", "updated_at"])
        LeadEvent.objects.create(
            action=LeadEvent.Action.RESENT,
            actor=actor,
            lead_id=delivery.lead_id,
            delivery=delivery,
            created_at=now,
            detail={"previous_status": previous, "subscriber": delivery.subscriber_id},
        )
    return delivery


def delivery_confirm_sent(*, actor: User, delivery: Delivery, now: datetime | None = None) -> Delivery:
    """Staff: an ambiguous send was checked (e.g. in the provider's log) and did go out. Audited."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status != Delivery.Status.SENDING:
            raise LeadError(ERR_NOT_AMBIGUOUS)
        delivery.status = Delivery.Status.SENT
        delivery.sent_at = delivery.sending_started_at or now
        delivery.save(update_fields=["status", "sent_at", "updated_at"])
        LeadEvent.objects.create(
            action=LeadEvent.Action.MARKED_SENT,
            actor=actor,
            lead_id=delivery.lead_id,
            delivery=delivery,
            created_at=now,
        )
    return delivery
