"""manage.py import_leads FOLDER — import every *.pdf in a folder (PDFs from outside Dialfire). Safe to repeat."""

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leads.services import PdfIn, leads_import_many

BATCH = 50  # PDFs per transaction


class Command(BaseCommand):
    help = "Import lead PDFs from a folder. The same PDF imported twice is one lead."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("folder", type=Path)
        parser.add_argument("--recursive", action="store_true", help="also import PDFs in sub-folders")

    def handle(self, *args: object, folder: Path, recursive: bool, **options: object) -> None:
        if not folder.is_dir():
            raise CommandError(f"Not a folder: {folder}")
        pattern = "**/*" if recursive else "*"
        files = sorted(p for p in folder.glob(pattern) if p.is_file() and p.suffix.lower() == ".pdf")
        counts: Counter[str] = Counter()
        for start in range(0, len(files), BATCH):
            batch = files[start : start + BATCH]
            results = leads_import_many(items=[PdfIn(content=p.read_bytes(), filename=p.name) for p in batch])
            for path, result in zip(batch, results, strict=True):
                outcome = result.lead.status if result.created else "duplicate"
                counts[outcome] += 1
                self.stdout.write(f"{path.name}: lead #{result.lead.pk} {outcome}")
        summary = ", ".join(f"{n} {k}" for k, n in sorted(counts.items())) or "nothing"
        self.stdout.write(self.style.SUCCESS(f"{len(files)} PDFs: {summary}."))
