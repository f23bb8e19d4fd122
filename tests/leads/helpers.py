"""Shared builders for the lead tests."""

import hashlib
import itertools
from datetime import datetime

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from leads.models import Lead
from leads.samples import lead_pdf

_seq = itertools.count()
_PDF_NAME: dict[str, str] = {}


def ready_leads(plz: str, n: int, *, received_at: datetime | None = None) -> list[Lead]:
    """n READY leads in one PLZ sharing one stored PDF (fast: no extraction), as if imported."""
    if plz not in _PDF_NAME or not default_storage.exists(_PDF_NAME[plz]):
        _PDF_NAME[plz] = default_storage.save(f"leads/test-{plz}.pdf", ContentFile(lead_pdf(plz=plz, city="Berlin")))
    extra = {"received_at": received_at} if received_at else {}
    leads = [
        Lead(
            sha256=hashlib.sha256(f"{plz}-{next(_seq)}".encode()).hexdigest(),
            pdf=_PDF_NAME[plz],
            filename="lead.pdf",
            plz=plz,
            status=Lead.Status.READY,
            **extra,
        )
        for _ in range(n)
    ]
    return Lead.objects.bulk_create(leads)
