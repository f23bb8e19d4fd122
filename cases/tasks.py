"""Celery adapters for case jobs."""

from dataclasses import asdict

from celery import shared_task

from cases import services


@shared_task
def delete_orphaned_document_files_task() -> dict[str, int]:
    """Daily: delete stored document files no row references, once older than RETENTION_ORPHAN_FILE_DAYS."""
    return asdict(services.document_files_orphaned_delete())
