"""manage.py import_cases FILE.csv [--source NAME] — the command-line face of cases.services.case_import."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from cases.models import Case
from cases.services import CaseImportFileError, case_import, case_import_read_csv

# Below this many rows the import takes about a second; a bar would only flicker.
PROGRESS_BAR_MIN_ROWS = 1000

ERR_NO_FILE = "No such file: {path}"
ERR_UNREADABLE = "Cannot read {path}: {error}"
ERR_BAD_FILE = "{path}: {error}"


class Command(BaseCommand):
    help = (
        "Import foreclosure cases from a CSV file. Re-importing updates cases (matched on state, county and "
        "case_number), never duplicates them. Bad rows are listed with their line number and skipped; "
        "the exit code is non-zero only when the file cannot be read at all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path, help="CSV file with a header line (see cases/fixtures/sample_cases.csv)")
        parser.add_argument("--source", help="Recorded on every imported case (default: the file's name)")

    def handle(self, *args: Any, file: Path, source: str | None, **options: Any) -> None:
        if not file.is_file():
            raise CommandError(ERR_NO_FILE.format(path=file))
        try:
            data = file.read_bytes()
        except OSError as error:
            raise CommandError(ERR_UNREADABLE.format(path=file, error=error.strerror or error)) from None
        try:
            rows = case_import_read_csv(data=data)
        except CaseImportFileError as error:
            raise CommandError(ERR_BAD_FILE.format(path=file, error=error)) from None

        source = (source or file.name)[: Case._meta.get_field("source").max_length]
        # disable=None turns the bar off when stderr is not a terminal (cron, CI, logs).
        quiet = None if len(rows) >= PROGRESS_BAR_MIN_ROWS else True
        with tqdm(total=len(rows), unit="row", desc="Importing", disable=quiet) as bar:
            report = case_import(rows=rows, source=source, progress=bar.update)

        self.stdout.write(f"Imported {file} as source {source!r}: {report.summary()}.")
        if report.rejected:
            self.stdout.write(self.style.WARNING(f"Rejected {report.rejected_count} line(s), nothing of them written:"))
            for rejected in report.rejected:
                self.stdout.write(f"  line {rejected.line}: {rejected.reason}")
