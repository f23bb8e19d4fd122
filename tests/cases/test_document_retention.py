"""Retention: stored document files that no Document references are deleted once older than 7 days.

Kept: every referenced file, however old; every file younger than the period (an upload or import may still be
committing its row); anything outside the documents folder. Removed: files of deleted documents and uploads whose
row never committed. Ages are set on the files and the clock is frozen around the boundary.
"""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from cases.models import Document
from cases.services import document_files_orphaned_delete
from cases.tasks import delete_orphaned_document_files_task
from tests.factories import CaseFactory, DocumentFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 11, 20, 2, 40, tzinfo=UTC)
PDF = b"%PDF-1.4 test document"


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    settings.RETENTION_ORPHAN_FILE_DAYS = 7


def _age(name: str, age: timedelta) -> str:
    """Give a stored file the modification time it would have after `age` (relative to NOW)."""
    stamp = (NOW - age).timestamp()
    os.utime(default_storage.path(name), (stamp, stamp))
    return name


def _orphan(name: str, age: timedelta) -> str:
    return _age(default_storage.save(name, ContentFile(PDF)), age)


def _document_with_file(age: timedelta) -> Document:
    document = DocumentFactory(case=CaseFactory())
    document.file.save("notice.pdf", ContentFile(PDF))
    _age(document.file.name, age)
    return document


def test_orphans_past_the_period_go_referenced_and_fresh_files_stay():
    referenced_old = _document_with_file(timedelta(days=400))
    deleted_document = _document_with_file(timedelta(days=10))
    deleted_name = deleted_document.file.name
    deleted_document.delete()  # Django leaves the file behind
    orphan_old = _orphan("documents/2026/10/never-attached.pdf", timedelta(days=8))
    just_over = _orphan("documents/2026/11/just-over.pdf", timedelta(days=7, minutes=1))
    just_under = _orphan("documents/2026/11/just-under.pdf", timedelta(days=7) - timedelta(minutes=1))
    in_flight = _orphan("documents/2026/11/importing-now.pdf", timedelta(seconds=5))
    elsewhere = _orphan("exports/2026/old-report.pdf", timedelta(days=90))

    with time_machine.travel(NOW, tick=False):
        report = document_files_orphaned_delete()

    assert not default_storage.exists(deleted_name)
    assert not default_storage.exists(orphan_old)
    assert not default_storage.exists(just_over)
    assert default_storage.exists(referenced_old.file.name)
    assert default_storage.exists(just_under)
    assert default_storage.exists(in_flight)
    assert default_storage.exists(elsewhere)  # not the documents folder: not this job's to judge
    assert (report.checked, report.deleted, report.kept_referenced, report.kept_fresh) == (6, 3, 1, 2)
    # The referenced file still downloads as before.
    with default_storage.open(referenced_old.file.name, "rb") as fh:
        assert fh.read() == PDF

    with time_machine.travel(NOW, tick=False):
        again = document_files_orphaned_delete()
    assert (again.checked, again.deleted) == (3, 0)  # idempotent: nothing left to delete


def test_an_upload_whose_row_never_committed_is_removed_after_the_period(tmp_path):
    case = CaseFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        document = Document(case=case, kind=Document.Kind.NOTICE_OF_DEFAULT, title="Scan")
        document.file.save("scan.pdf", ContentFile(PDF))  # the file is written, then the transaction fails
        raise RuntimeError("import failed after storing the file")
    assert not Document.objects.exists()
    (name,) = [str(p.relative_to(tmp_path / "media")) for p in (tmp_path / "media").rglob("*.pdf")]

    stored_at = datetime.fromtimestamp(os.path.getmtime(default_storage.path(name)), tz=UTC)
    with time_machine.travel(stored_at + timedelta(days=6), tick=False):
        assert document_files_orphaned_delete().deleted == 0
    assert default_storage.exists(name)
    with time_machine.travel(stored_at + timedelta(days=7, seconds=1), tick=False):
        assert document_files_orphaned_delete().deleted == 1
    assert not default_storage.exists(name)


def test_the_period_is_a_setting(settings):
    settings.RETENTION_ORPHAN_FILE_DAYS = 2
    three_days = _orphan("documents/2026/11/three-days.pdf", timedelta(days=3))
    one_day = _orphan("documents/2026/11/one-day.pdf", timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        assert delete_orphaned_document_files_task() == {
            "checked": 2,
            "deleted": 1,
            "kept_referenced": 0,
            "kept_fresh": 1,
        }
    assert not default_storage.exists(three_days) and default_storage.exists(one_day)


def test_an_empty_or_missing_documents_folder_is_fine():
    with time_machine.travel(NOW, tick=False):
        report = document_files_orphaned_delete()
    assert (report.checked, report.deleted) == (0, 0)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("RETENTION_ORPHAN_FILE_DAYS", "0", "RETENTION_ORPHAN_FILE_DAYS must be 1 or more (days)."),
        ("RETENTION_WEBHOOK_BODY_DAYS", "3", "RETENTION_WEBHOOK_BODY_DAYS must be 7 or more (days)."),
        ("RETENTION_FAILED_LOGIN_DAYS", "0", "RETENTION_FAILED_LOGIN_DAYS must be 1 or more (days)."),
    ],
)
def test_periods_too_short_to_be_safe_are_refused_at_start(name, value, message):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "jsn.settings", "SECRET_KEY": "x" * 50, name: value}
    result = subprocess.run(
        [sys.executable, "-c", "import jsn.settings"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert message in result.stderr
