"""Cleanup of stored lead PDFs that no Lead references (a race loser's copy, an import that crashed before commit)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from jsn.lib.orphans import OrphanReport, orphan_files_delete, upload_root
from leads.models import Lead


def lead_pdfs_orphaned_delete(*, now: datetime | None = None) -> OrphanReport:
    """Delete stored lead PDFs that no Lead references once older than RETENTION_ORPHAN_FILE_DAYS. Quarantined and
    review leads keep theirs (they are rows). Idempotent; a second run at once is harmless."""
    now = now or timezone.now()
    pdf_field = Lead._meta.get_field("pdf")

    def referenced(names: list[str]) -> set[str]:
        return set(Lead.objects.filter(pdf__in=names).values_list("pdf", flat=True))

    return orphan_files_delete(
        storage=pdf_field.storage,
        top=upload_root(pdf_field),
        referenced=referenced,
        older_than=now - timedelta(days=settings.RETENTION_ORPHAN_FILE_DAYS),
    )
