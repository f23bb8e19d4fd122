"""Retention: stored lead PDFs that no Lead references are deleted once older than 7 days; a PDF an import has
just written (its row not yet committed) survives, which is what the age is for."""

import hashlib
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, connections, transaction

from leads.models import Lead
from leads.samples import corrupt_pdf, lead_pdf
from leads.services import lead_import_pdf
from leads.services.retention import lead_pdfs_orphaned_delete
from leads.tasks import delete_orphaned_lead_pdfs_task


def _mtime(name: str) -> datetime:
    return datetime.fromtimestamp(os.path.getmtime(default_storage.path(name)), tz=UTC)


def _set_age(name: str, *, now: datetime, age: timedelta) -> None:
    stamp = (now - age).timestamp()
    os.utime(default_storage.path(name), (stamp, stamp))


@pytest.mark.django_db
def test_lead_pdfs_kept_while_a_lead_points_at_them_and_removed_after_the_period_otherwise(settings):
    settings.RETENTION_ORPHAN_FILE_DAYS = 7
    now = datetime.now(tz=UTC) + timedelta(days=365)
    imported = lead_import_pdf(content=lead_pdf(plz="10115", city="Berlin", ref="1"), filename="a.pdf").lead
    quarantined = lead_import_pdf(content=corrupt_pdf(), filename="broken.pdf").lead
    assert quarantined.status == Lead.Status.QUARANTINED
    removed = lead_import_pdf(content=lead_pdf(plz="80331", city="München", ref="2"), filename="b.pdf").lead
    removed_name = removed.pdf.name
    removed.delete()  # staff deleted the lead; Django leaves the file
    crashed = default_storage.save("leads/2026/11/" + "c" * 64 + ".pdf", ContentFile(b"%PDF crashed import"))
    boundary_kept = default_storage.save("leads/2026/11/boundary-kept.pdf", ContentFile(b"%PDF"))
    for name in (imported.pdf.name, quarantined.pdf.name, removed_name, crashed):
        _set_age(name, now=now, age=timedelta(days=200))
    _set_age(boundary_kept, now=now, age=timedelta(days=7) - timedelta(minutes=1))

    with time_machine.travel(now, tick=False):
        report = lead_pdfs_orphaned_delete()

    assert default_storage.exists(imported.pdf.name)
    assert default_storage.exists(quarantined.pdf.name)  # staff still review quarantined files
    assert default_storage.exists(boundary_kept)
    assert not default_storage.exists(removed_name)
    assert not default_storage.exists(crashed)
    assert (report.deleted, report.kept_referenced, report.kept_fresh) == (2, 2, 1)
    assert Lead.objects.get(pk=imported.pk).pdf.read().startswith(b"%PDF")

    with time_machine.travel(now, tick=False):
        assert delete_orphaned_lead_pdfs_task()["deleted"] == 0  # idempotent


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_pdf_written_by_an_import_that_has_not_committed_survives_the_cleanup(settings, tmp_path):
    """The importer writes the PDF, then waits to commit its row (held here on the content-hash unique index by
    another transaction). The cleanup runs meanwhile: the file is unreferenced but fresh, so it stays; the import
    then commits and the lead has its PDF."""
    settings.MEDIA_ROOT = str(tmp_path / "media")
    content = lead_pdf(plz="10115", city="Berlin", ref="in-flight")
    digest = hashlib.sha256(content).hexdigest()
    results: list = []

    def importer() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SET lock_timeout = '60s'")  # wait for the blocking transaction, however slow CI is
            results.append(lead_import_pdf(content=content, filename="in-flight.pdf"))
        except Exception as exc:  # noqa: BLE001 — reported by the assertion below
            results.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=importer)
    with pytest.raises(RuntimeError), transaction.atomic():
        Lead.objects.create(sha256=digest, pdf="leads/placeholder.pdf", filename="blocker.pdf")
        thread.start()
        deadline = time.monotonic() + 30
        written: list[str] = []
        while time.monotonic() < deadline and not written:
            written = [p.name for p in (tmp_path / "media").rglob(f"{digest}*.pdf")]
            time.sleep(0.05)
        assert written, "the importer never wrote its PDF"
        waiting = 0
        with connection.cursor() as cursor:  # the importer is now waiting on our row's index entry
            for _ in range(600):
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'INSERT%%'"
                )
                waiting = cursor.fetchone()[0]
                if waiting:
                    break
                time.sleep(0.05)
        assert waiting == 1, "the importer is not waiting to commit"
        report = lead_pdfs_orphaned_delete()
        assert report.kept_fresh == 1 and report.deleted == 0
        raise RuntimeError("roll back the blocker: the import may commit now")
    thread.join(timeout=60)

    (result,) = results
    assert not isinstance(result, Exception), result
    assert result.created
    lead = Lead.objects.get(sha256=digest)
    assert default_storage.exists(lead.pdf.name)
    with time_machine.travel(_mtime(lead.pdf.name) + timedelta(days=30), tick=False):
        assert lead_pdfs_orphaned_delete().kept_referenced == 1
    assert default_storage.exists(lead.pdf.name)
