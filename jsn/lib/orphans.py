"""Delete stored files that no database row references, once they are old enough.

Only the storage API is used (listdir, get_modified_time, delete), so this works for the file system and for
S3-compatible storage alike. The owning apps say which folder and which rows (cases: documents, leads: lead PDFs).

Why the age matters: importers write a file *before* the row that references it commits (so a row never points at
a missing file). A file younger than the cutoff may belong to an import still in flight and is never touched.
Nothing in JSN attaches an existing old file to a new row, so an old unreferenced file cannot gain a reference
between the check and the delete.
"""

import logging
import posixpath
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from django.core.files.storage import Storage

logger = logging.getLogger(__name__)

BATCH_SIZE = 1000


@dataclass(frozen=True)
class OrphanReport:
    checked: int = 0
    deleted: int = 0
    kept_referenced: int = 0
    kept_fresh: int = 0


def storage_walk(*, storage: Storage, top: str) -> Iterator[str]:
    """Every file name under `top` (recursively), as the storage names it (e.g. "leads/2026/11/ab12.pdf")."""
    try:
        dirs, files = storage.listdir(top)
    except FileNotFoundError:  # nothing was ever stored there
        return
    for name in sorted(files):
        yield posixpath.join(top, name)
    for name in sorted(dirs):
        yield from storage_walk(storage=storage, top=posixpath.join(top, name))


def _batches(names: Iterable[str], size: int) -> Iterator[list[str]]:
    iterator = iter(names)
    while batch := list(islice(iterator, size)):
        yield batch


def orphan_files_delete(
    *,
    storage: Storage,
    top: str,
    referenced: Callable[[list[str]], set[str]],
    older_than: datetime,
    batch_size: int = BATCH_SIZE,
) -> OrphanReport:
    """Delete files under `top` that `referenced` does not claim and that were last modified before `older_than`.

    `referenced(names)` returns the subset of names some row points at (one query per batch). The database is asked
    first, so only unreferenced files cost a modification-time lookup (a HEAD request on S3). Two runs at once
    are harmless: deleting a file that is already gone is a no-op in Django's storages.
    """
    checked = deleted = kept_referenced = kept_fresh = 0
    for batch in _batches(storage_walk(storage=storage, top=top), batch_size):
        checked += len(batch)
        in_use = referenced(batch)
        kept_referenced += len(in_use)
        for name in batch:
            if name in in_use:
                continue
            try:
                modified = storage.get_modified_time(name)
            except FileNotFoundError:  # another run (or an importer's cleanup) removed it meanwhile
                continue
            if modified >= older_than:
                kept_fresh += 1
                continue
            storage.delete(name)
            deleted += 1
    if deleted:
        # Counts only: file names can carry case numbers, which do not belong in logs.
        logger.info("retention: deleted %s orphaned files under %s/", deleted, top)
    return OrphanReport(checked=checked, deleted=deleted, kept_referenced=kept_referenced, kept_fresh=kept_fresh)


def upload_root(field: object) -> str:
    """The fixed folder of a FileField's `upload_to` ("documents/%Y/%m/" → "documents"); never the whole storage."""
    upload_to = getattr(field, "upload_to", "")
    root = upload_to.split("%", 1)[0].strip("/") if isinstance(upload_to, str) else ""
    if not root:
        raise ValueError(f"{field} has no fixed upload folder; orphan cleanup would walk the whole storage.")
    return root
