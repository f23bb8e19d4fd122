"""Import lead PDFs: one lead per Dialfire id and per content hash, however often and concurrently they arrive."""

import hashlib
import logging
from dataclasses import dataclass
from datetime import datetime

from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from leads import plz as plz_reader
from leads.models import (
    Lead,
    LeadEvent,
)
from leads.services.distribution import _leads_plan

logger = logging.getLogger(__name__)


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
