"""CSV exports: streamed row by row and safe to open in a spreadsheet. Every export of ours goes through here.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a line break is a formula to Excel, LibreOffice and Sheets
("CSV injection"): an e-mail address or a reason typed by a subscriber could run as one on a staff member's
machine. Such text gets a leading `'`, which spreadsheets show as text; numbers pass unchanged.
"""

import csv
from collections.abc import Iterable, Iterator, Sequence

from django.http import StreamingHttpResponse

# Rows fetched per round trip when streaming a queryset: few round trips, memory flat whatever the table size.
EXPORT_CHUNK_SIZE = 2000

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def csv_safe(value: object) -> object:
    """Text that a spreadsheet would run as a formula is prefixed with a quote; numbers pass unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class Echo:
    """A file-like object whose write() hands the line back, so csv.writer can feed a generator."""

    def write(self, value: str) -> str:
        return value


def csv_lines(*, header: Sequence[str], rows: Iterable[Sequence[object]]) -> Iterator[str]:
    """The header and then each row as one CSV line, every cell neutralised; nothing is held beyond one row."""
    writer = csv.writer(Echo())
    yield writer.writerow(header)
    for row in rows:
        yield writer.writerow([csv_safe(value) for value in row])


def csv_response(*, filename: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> StreamingHttpResponse:
    """A streamed CSV download. `rows` should be lazy (e.g. built over `queryset.iterator(chunk_size=…)`)."""
    response = StreamingHttpResponse(csv_lines(header=header, rows=rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"  # exports carry customer data: never kept by a browser or proxy
    return response
