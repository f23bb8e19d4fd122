"""Staff resolve leads whose PLZ could not be read."""

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from leads.models import (
    PLZ_VALIDATOR,
    Lead,
    LeadEvent,
)
from leads.services.common import (
    ERR_NOT_IN_REVIEW,
    LeadError,
)
from leads.services.distribution import lead_distribute

logger = logging.getLogger(__name__)


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
