"""Lead writes: import, distribution, sending, review, re-send, subscriptions, download links.

Invariants (RELIABILITY.md L1–L3):
- one lead per Dialfire id and per content hash — unique constraints decide, IntegrityError means "already there";
- one delivery per (lead, subscriber), ever — a unique constraint;
- a delivery is marked `sending` in its own committed transaction before the e-mail leaves; one found still
  `sending` later may or may not have gone out, so it is never re-sent automatically but shown to staff.
"""

import hashlib
import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.mail import EmailMessage, get_connection
from django.core.mail.message import make_msgid
from django.db import IntegrityError, transaction
from django.db.models import Count, Exists, F, OuterRef, Q
from django.utils import timezone

from accounts.models import User
from accounts.services import terms_require_current
from leads import plz as plz_reader
from leads.models import (
    PLZ_VALIDATOR,
    Delivery,
    Lead,
    LeadEvent,
    PlzRotation,
    PlzSubscription,
    eligible_subscriptions_q,
)

logger = logging.getLogger(__name__)

MAX_SEND_ATTEMPTS = 3
RETRY_BACKOFF = timedelta(minutes=5)
AMBIGUOUS_AFTER = timedelta(minutes=10)
SEND_LEASE = timedelta(minutes=5)
DOWNLOAD_LINK_MAX_AGE = 3600  # seconds
DOWNLOAD_SALT = "leads.pdf-download"

ERR_NOT_IN_REVIEW = "This lead is not waiting for review."
ERR_NOT_ELIGIBLE = "No active subscription for PLZ {plz} at send time."
ERR_LEAD_NOT_DISTRIBUTED = "The lead is no longer distributed (status {status})."
ERR_RESEND_IN_FLIGHT = "This delivery is being sent right now; wait until it is sent or flagged as ambiguous."
ERR_RESEND_PENDING = "This delivery has not been sent yet; it will go out at its due time."
ERR_NOT_AMBIGUOUS = "Only a delivery stuck in 'sending' can be confirmed by hand."
ERR_LINK_INVALID = "This download link is invalid."
ERR_LINK_EXPIRED = "This download link has expired. Open your received leads to get a new one."
ERR_LINK_OTHER_USER = "This download link belongs to another account."
ERR_NOT_RECEIVED = "This lead was not delivered to you."
ERR_RATE_LIMITED = "Too many downloads. Try again later."


class LeadError(Exception):
    """A refused lead operation; the message is safe to show."""


class DownloadRefused(LeadError):
    def __init__(self, message: str, *, status: int = 403) -> None:
        super().__init__(message)
        self.status = status


def _hours() -> int:
    return settings.LEAD_EXCLUSIVE_HOURS


# --- Import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    lead: Lead
    created: bool


def _lead_existing(*, digest: str, dialfire_id: str | None) -> Lead | None:
    match = Q(sha256=digest) | Q(dialfire_id=dialfire_id) if dialfire_id else Q(sha256=digest)
    found = list(Lead.objects.filter(match)[:2])
    # Both may match different leads (a new contact id with a known PDF, or the reverse): the id wins.
    return next(
        (lead for lead in found if dialfire_id and lead.dialfire_id == dialfire_id), found[0] if found else None
    )


def _lead_build(*, content: bytes, digest: str, filename: str, dialfire_id: str | None, now: datetime) -> Lead:
    """An unsaved lead with its PLZ read (or its quarantine reason); READY leads are marked distributed, since
    callers plan them in the transaction that inserts them."""
    lead = Lead(
        dialfire_id=dialfire_id or None,
        sha256=digest,
        filename=(filename or "lead.pdf")[-255:],
        size_bytes=len(content),
        received_at=now,
    )
    try:
        extraction = plz_reader.extract(content)
    except plz_reader.PdfUnreadable as exc:
        lead.status = Lead.Status.QUARANTINED
        lead.quarantine_reason = exc.reason[:255]
    else:
        lead.text_snippet = extraction.snippet
        lead.candidates = [c.as_dict() for c in extraction.candidates]
        lead.plz = extraction.plz
        lead.status = Lead.Status.READY if lead.plz else Lead.Status.REVIEW
    return lead


def _import_event(*, lead: Lead, actor: User | None, now: datetime) -> LeadEvent:
    quarantined = lead.status == Lead.Status.QUARANTINED
    return LeadEvent(
        action=LeadEvent.Action.QUARANTINED if quarantined else LeadEvent.Action.IMPORTED,
        actor=actor,
        lead=lead,
        created_at=now,
        detail={"filename": lead.filename, "status": lead.status, "reason": lead.quarantine_reason},
    )


def lead_import_pdf(
    *,
    content: bytes,
    filename: str,
    dialfire_id: str | None = None,
    actor: User | None = None,
    now: datetime | None = None,
) -> ImportResult:
    """Store a lead PDF once, read its PLZ, and plan its deliveries when the PLZ is certain.

    Idempotent by Dialfire id and by content hash, also under concurrent importers: the unique constraints
    decide, and the loser of a race returns the winner's lead.
    """
    now = now or timezone.now()
    digest = hashlib.sha256(content).hexdigest()
    existing = _lead_existing(digest=digest, dialfire_id=dialfire_id)
    if existing is not None:
        return ImportResult(existing, created=False)

    lead = _lead_build(content=content, digest=digest, filename=filename, dialfire_id=dialfire_id, now=now)
    # The file is written before the row, so a row never points at a missing file; a race loser removes its copy.
    lead.pdf.save(f"{digest}.pdf", ContentFile(content), save=False)
    ready = lead.status == Lead.Status.READY
    if ready:  # planned in the same transaction as the insert: one commit, and a race loser plans nothing
        lead.status, lead.distributed_at = Lead.Status.DISTRIBUTED, now
    try:
        with transaction.atomic():
            lead.save()
            if ready:
                _leads_plan(leads=[lead], now=now)
            _import_event(lead=lead, actor=actor, now=now).save()
    except IntegrityError:
        lead.pdf.delete(save=False)
        existing = _lead_existing(digest=digest, dialfire_id=dialfire_id)
        if existing is None:
            raise
        return ImportResult(existing, created=False)

    if lead.status == Lead.Status.QUARANTINED:
        logger.warning("lead %s quarantined: %s", lead.pk, lead.quarantine_reason)
    return ImportResult(lead, created=True)


@dataclass(frozen=True)
class PdfIn:
    content: bytes
    filename: str
    dialfire_id: str | None = None


def leads_import_many(
    *, items: list[PdfIn], actor: User | None = None, now: datetime | None = None
) -> list[ImportResult]:
    """Import several PDFs (a folder, a Dialfire page) in one transaction; the same outcome as one by one.

    If a concurrent importer inserted one of them first, the batch is rolled back and every PDF goes through
    `lead_import_pdf`, which settles each race on its own.
    """
    now = now or timezone.now()
    digests = [hashlib.sha256(item.content).hexdigest() for item in items]
    ids = [item.dialfire_id for item in items if item.dialfire_id]
    known = list(Lead.objects.filter(Q(sha256__in=digests) | Q(dialfire_id__in=ids)))
    by_sha = {lead.sha256: lead for lead in known}
    by_id = {lead.dialfire_id: lead for lead in known if lead.dialfire_id}
    slots: list[Lead] = []
    created: list[bool] = []
    new: list[Lead] = []
    for item, digest in zip(items, digests, strict=True):
        lead = (item.dialfire_id and by_id.get(item.dialfire_id)) or by_sha.get(digest)
        if lead is None:
            lead = _lead_build(
                content=item.content, digest=digest, filename=item.filename, dialfire_id=item.dialfire_id, now=now
            )
            lead.pdf.save(f"{digest}.pdf", ContentFile(item.content), save=False)
            new.append(lead)
            by_sha[digest] = lead  # a repeat later in the batch is this lead
            if item.dialfire_id:
                by_id[item.dialfire_id] = lead
            created.append(True)
        else:
            created.append(False)
        slots.append(lead)
    ready = [lead for lead in new if lead.status == Lead.Status.READY]
    for lead in ready:
        lead.status, lead.distributed_at = Lead.Status.DISTRIBUTED, now
    try:
        with transaction.atomic():
            Lead.objects.bulk_create(new)
            _leads_plan(leads=ready, now=now)
            LeadEvent.objects.bulk_create([_import_event(lead=lead, actor=actor, now=now) for lead in new])
    except IntegrityError:
        for lead in new:
            lead.pdf.delete(save=False)
        return [
            lead_import_pdf(content=i.content, filename=i.filename, dialfire_id=i.dialfire_id, actor=actor, now=now)
            for i in items
        ]
    for lead in new:
        if lead.status == Lead.Status.QUARANTINED:
            logger.warning("lead %s quarantined: %s", lead.pk, lead.quarantine_reason)
    return [ImportResult(lead, created=c) for lead, c in zip(slots, created, strict=True)]


# --- Distribution ---------------------------------------------------------------------------


def _rotation_key(turns: dict, user_id: int, index: int) -> tuple[float, int]:
    """Smaller = has waited longer for a first position. Newcomers rank as if their wait began when they joined."""
    entry = turns.get(str(user_id)) or {}
    if entry.get("turn") is not None:
        return (float(entry["turn"]), index)
    return (float(entry.get("joined", 0)) - 0.5, index)


def _rotation_locked(*, plz: str) -> PlzRotation:
    """The PLZ's rotation row, locked: concurrent distributions in one PLZ take turns in order."""
    rotation = PlzRotation.objects.select_for_update().filter(plz=plz).first()
    if rotation is None:
        try:
            with transaction.atomic():
                PlzRotation.objects.create(plz=plz)
        except IntegrityError:  # another distribution created it first
            pass
        rotation = PlzRotation.objects.select_for_update().get(plz=plz)
    return rotation


def _leads_plan(*, leads: list[Lead], now: datetime) -> int:
    """Create the deliveries of these leads (saved, inside the caller's transaction); returns how many.

    Per PLZ: the eligible subscribers are read once and the rotation row is locked once (PLZs in sorted order, so
    concurrent batches never deadlock); leads take their first recipient in order.
    """
    by_plz: dict[str, list[Lead]] = {}
    for lead in leads:
        by_plz.setdefault(lead.plz, []).append(lead)
    deliveries: list[Delivery] = []
    window_end = now + timedelta(hours=_hours())
    for plz in sorted(by_plz):
        user_ids = list(
            dict.fromkeys(
                PlzSubscription.objects.filter(eligible_subscriptions_q(now), plz=plz, user__is_active=True)
                .order_by("created_at", "id")
                .values_list("user_id", flat=True)
            )
        )
        if not user_ids:
            continue
        rotation = _rotation_locked(plz=plz)
        turns = dict(rotation.turns)
        for uid in user_ids:
            turns.setdefault(str(uid), {"turn": None, "joined": rotation.counter})
        for lead in by_plz[plz]:
            first_id = min(user_ids, key=lambda uid: _rotation_key(turns, uid, user_ids.index(uid)))
            rotation.counter += 1
            turns[str(first_id)] = {"turn": rotation.counter, "at": now.isoformat()}
            for uid in user_ids:
                is_first = uid == first_id
                deliveries.append(
                    Delivery(
                        lead=lead,
                        subscriber_id=uid,
                        position=Delivery.Position.FIRST if is_first else Delivery.Position.OTHER,
                        due_at=now if is_first else window_end,
                    )
                )
        rotation.turns = turns
        rotation.save(update_fields=["counter", "turns", "updated_at"])
    Delivery.objects.bulk_create(deliveries, ignore_conflicts=True)
    return len(deliveries)


def lead_distribute(*, lead_id: int, now: datetime | None = None) -> int:
    """Plan the deliveries of a ready lead; returns how many were planned (0 if it was not ready).

    One eligible subscriber: due now. Several: the one who waited longest for a first position is due now and
    holds the lead exclusively for LEAD_EXCLUSIVE_HOURS; the others are due when that window ends.
    """
    now = now or timezone.now()
    with transaction.atomic():
        lead = Lead.objects.select_for_update().filter(pk=lead_id).first()
        if lead is None or lead.status != Lead.Status.READY or not lead.plz:
            return 0
        planned = _leads_plan(leads=[lead], now=now)
        lead.status = Lead.Status.DISTRIBUTED
        lead.distributed_at = now
        lead.save(update_fields=["status", "distributed_at"])
    return planned


def leads_distribute_ready(*, now: datetime | None = None, limit: int = 500) -> int:
    """Sweep: plan every lead left ready (e.g. a crash between import and planning). Harmless to repeat."""
    planned = 0
    for lead_id in Lead.objects.filter(status=Lead.Status.READY).order_by("id").values_list("id", flat=True)[:limit]:
        planned += lead_distribute(lead_id=lead_id, now=now)
    return planned


# --- Sending --------------------------------------------------------------------------------


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


def _lead_email(*, delivery: Delivery, recipient: User, pdf: bytes, message_id: str) -> EmailMessage:
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
    body = (
        f"Hello,\n\nA new lead has arrived for your PLZ subscription {lead.plz}.\n\n"
        f"PLZ: {lead.plz}\nReceived: {received}\nLead number: {lead.pk}\n\n{exclusivity}\n\n"
        f"The lead sheet is attached as a PDF. You can download it again from {settings.SITE_URL}/leads/received/.\n\n"
        "— JSN\n"
    )
    message = EmailMessage(
        subject=subject,
        body=body,
        to=[recipient.email],
        headers={"Message-ID": message_id, "X-JSN-Lead": str(lead.pk), "X-JSN-Delivery": str(delivery.pk)},
    )
    message.attach(f"lead-{lead.pk}-plz-{lead.plz}.pdf", pdf, "application/pdf")
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
            try:
                if lead.pk not in pdfs:
                    with lead.pdf.open("rb") as fh:
                        pdfs[lead.pk] = fh.read()
                message = _lead_email(
                    delivery=delivery, recipient=delivery.subscriber, pdf=pdfs[lead.pk], message_id=message_id
                )
                connection.send_messages([message])
            # Any error from storage or the mail backend: the message was refused, so a bounded retry is safe.
            # A crash (the process dying) never reaches this line and leaves the row in `sending`.
            except Exception as exc:  # noqa: BLE001
                error = f"{type(exc).__name__}: {exc}"[:500]
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


# --- Review ---------------------------------------------------------------------------------


def lead_review_resolve(*, actor: User, lead: Lead, plz: str, now: datetime | None = None) -> Lead:
    """Staff picked the PLZ of a lead in review: record it and release the lead to distribution."""
    now = now or timezone.now()
    plz = (plz or "").strip()
    PLZ_VALIDATOR(plz)
    with transaction.atomic():
        lead = Lead.objects.select_for_update().get(pk=lead.pk)
        if lead.status != Lead.Status.REVIEW:
            raise LeadError(ERR_NOT_IN_REVIEW)
        lead.plz = plz
        lead.status = Lead.Status.READY
        lead.reviewed_by = actor
        lead.reviewed_at = now
        lead.save(update_fields=["plz", "status", "reviewed_by", "reviewed_at"])
        LeadEvent.objects.create(
            action=LeadEvent.Action.REVIEW_RESOLVED,
            actor=actor,
            lead=lead,
            created_at=now,
            detail={"plz": plz, "candidates": sorted({c["plz"] for c in lead.candidates})},
        )
    lead_distribute(lead_id=lead.pk, now=now)
    lead.refresh_from_db()
    return lead


# --- Subscriptions --------------------------------------------------------------------------


def _open_subscription(*, user: User, plz: str) -> PlzSubscription | None:
    return (
        PlzSubscription.objects.select_for_update()
        .filter(user=user, plz=plz)
        .exclude(status=PlzSubscription.Status.CANCELED)
        .first()
    )


def subscription_request(*, user: User, plz: str) -> PlzSubscription:
    """An agent asks for a PLZ. It waits for payment (Stripe Checkout comes with the Stripe issue)."""
    plz = (plz or "").strip()
    PLZ_VALIDATOR(plz)
    terms_require_current(user=user)  # raises TermsNotAccepted
    with transaction.atomic():
        existing = _open_subscription(user=user, plz=plz)
        if existing is not None:
            return existing
        try:
            with transaction.atomic():
                sub = PlzSubscription.objects.create(
                    user=user, plz=plz, status=PlzSubscription.Status.PENDING, source=PlzSubscription.Source.STRIPE
                )
        except IntegrityError:  # the same request twice at once
            return PlzSubscription.objects.exclude(status=PlzSubscription.Status.CANCELED).get(user=user, plz=plz)
        LeadEvent.objects.create(action=LeadEvent.Action.SUBSCRIPTION_REQUESTED, actor=user, subscription=sub)
    return sub


def subscription_grant(
    *, actor: User, user: User, plz: str, period_end: datetime | None = None, now: datetime | None = None
) -> PlzSubscription:
    """Staff grant a PLZ by hand: the open subscription (e.g. one awaiting payment) becomes active and manual."""
    now = now or timezone.now()
    plz = (plz or "").strip()
    PLZ_VALIDATOR(plz)
    with transaction.atomic():
        sub = _open_subscription(user=user, plz=plz)
        if sub is None:
            sub = PlzSubscription(user=user, plz=plz)
        sub.status = PlzSubscription.Status.ACTIVE
        sub.source = PlzSubscription.Source.MANUAL
        sub.current_period_end = period_end
        sub.save()
        LeadEvent.objects.create(
            action=LeadEvent.Action.SUBSCRIPTION_GRANTED,
            actor=actor,
            subscription=sub,
            created_at=now,
            detail={"plz": plz, "user": user.pk, "period_end": period_end.isoformat() if period_end else None},
        )
    return sub


def subscription_end(
    *, actor: User | None, subscription: PlzSubscription, now: datetime | None = None
) -> PlzSubscription:
    """End a subscription now. Planned deliveries to it are skipped at send time."""
    now = now or timezone.now()
    with transaction.atomic():
        sub = PlzSubscription.objects.select_for_update().get(pk=subscription.pk)
        if sub.status != PlzSubscription.Status.CANCELED:
            previous = sub.status
            sub.status = PlzSubscription.Status.CANCELED
            sub.save(update_fields=["status", "updated_at"])
            LeadEvent.objects.create(
                action=LeadEvent.Action.SUBSCRIPTION_ENDED,
                actor=actor,
                subscription=sub,
                created_at=now,
                detail={"previous_status": previous},
            )
    return sub


def subscriptions_expire(*, now: datetime | None = None) -> int:
    """Cancel manual grants whose period has ended. Stripe-driven ones are kept in step by Stripe (later issue)."""
    now = now or timezone.now()
    expired = 0
    due = PlzSubscription.objects.filter(source=PlzSubscription.Source.MANUAL, current_period_end__lte=now).exclude(
        status=PlzSubscription.Status.CANCELED
    )
    for sub_id in due.values_list("id", flat=True):
        with transaction.atomic():
            # Compare-and-set: a concurrent run or a staff edit in between wins, and this one counts nothing.
            changed = (
                PlzSubscription.objects.filter(pk=sub_id, current_period_end__lte=now)
                .exclude(status=PlzSubscription.Status.CANCELED)
                .update(status=PlzSubscription.Status.CANCELED, updated_at=now)
            )
            if changed:
                LeadEvent.objects.create(
                    action=LeadEvent.Action.SUBSCRIPTION_EXPIRED, subscription_id=sub_id, created_at=now
                )
                expired += 1
    return expired


# --- Download links -------------------------------------------------------------------------


def lead_download_token(*, delivery: Delivery) -> str:
    """A signed, expiring token naming the delivery and its recipient. Ownership is re-checked at use."""
    return signing.dumps({"d": delivery.pk, "u": delivery.subscriber_id}, salt=DOWNLOAD_SALT, compress=False)


def _download_rate_limited(*, user: User) -> bool:
    """Count one attempt in the user's hourly window (shared cache, so it holds across processes)."""
    limit = int(getattr(settings, "DOCUMENT_RATE_LIMIT_PER_HOUR", 60))
    window = int(time.time()) // 3600
    key = f"leads:download-rl:{user.pk}:{window}"
    cache.add(key, 0, timeout=3600 + 60)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr
        cache.set(key, 1, timeout=3600 + 60)
        count = 1
    return count > limit


def lead_download_resolve(*, token: str, user: User, ip: str | None = None) -> Delivery:
    """The delivery a download link grants to `user`, or DownloadRefused. Every attempt is logged."""
    delivery_id = None
    try:
        if _download_rate_limited(user=user):
            raise DownloadRefused(ERR_RATE_LIMITED, status=429)
        try:
            data = signing.loads(token, salt=DOWNLOAD_SALT, max_age=DOWNLOAD_LINK_MAX_AGE)
        except signing.SignatureExpired:
            raise DownloadRefused(ERR_LINK_EXPIRED) from None
        except signing.BadSignature:
            raise DownloadRefused(ERR_LINK_INVALID) from None
        delivery_id = data.get("d") if isinstance(data, dict) else None
        if data.get("u") != user.pk:
            raise DownloadRefused(ERR_LINK_OTHER_USER)
        delivery = (
            Delivery.objects.select_related("lead")
            .filter(pk=delivery_id, subscriber=user, status__in=[Delivery.Status.SENT, Delivery.Status.DELIVERED])
            .first()
        )
        if delivery is None:
            raise DownloadRefused(ERR_NOT_RECEIVED)
    except DownloadRefused as exc:
        LeadEvent.objects.create(
            action=LeadEvent.Action.DOWNLOAD_REFUSED,
            actor=user,
            delivery_id=delivery_id if Delivery.objects.filter(pk=delivery_id).exists() else None,
            detail={"ip": ip, "reason": str(exc)},
        )
        raise
    LeadEvent.objects.create(
        action=LeadEvent.Action.DOWNLOADED, actor=user, lead=delivery.lead, delivery=delivery, detail={"ip": ip}
    )
    return delivery
