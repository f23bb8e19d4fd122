"""Every CSV export of the back office goes through jsn/lib/csv.py: streamed, read from the database in chunks
(never the whole table in memory), and safe to open in a spreadsheet."""

import csv
import io
from datetime import UTC, date, datetime

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models.sql import compiler

from billing.models import Invoice
from jsn.lib.csv import csv_lines, csv_safe
from tests.backoffice import builders
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = 7
CHUNK = 2


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("\ncmd", "'\ncmd"),
        ("alice@example.com", "alice@example.com"),
        ("a=b", "a=b"),  # only the first character matters
        (-5, -5),  # numbers are numbers, not text a spreadsheet evaluates
        (1500, 1500),
        (None, None),
    ],
)
def test_csv_safe(value, shown):
    assert csv_safe(value) == shown


def test_every_cell_of_every_row_is_neutralised():
    lines = list(csv_lines(header=["a", "b"], rows=iter([("=x", "@y"), ("ok", "-1")])))
    assert lines == ["a,b\r\n", "'=x,'@y\r\n", "ok,'-1\r\n"]


@pytest.fixture
def boss(client):
    client.force_login(UserFactory(email="boss@example.com", is_superuser=True))
    return client


@pytest.fixture
def data():
    """ROWS invoices with one line each and ROWS claims, the first of each owned by a user whose e-mail is a formula."""
    evil = UserFactory(email="=2+5@example.com")
    for n in range(ROWS):
        invoice = builders.invoice(evil if n == 0 else UserFactory(), date(2026, 6, 1 + n), 100 + n)
        builders.line(invoice, invoice.invoice_date, 100 + n)
        builders.claim(evil if n == 0 else None, claimed_at=datetime(2026, 6, 1 + n, tzinfo=UTC))
    return evil


def _line_export(client):
    ids = [str(pk) for pk in Invoice.objects.values_list("pk", flat=True)]
    return client.post("/admin/billing/invoice/", {"action": "export_csv", ACTION_CHECKBOX_NAME: ids})


EXPORTS = {
    "billing control room (invoices)": (
        "billing.control_room",
        lambda c: c.get("/admin/billing/export/"),
        "user_email",
    ),
    "invoice changelist action (lines)": ("billing.admin", _line_export, "user_email"),
    "claims control room": ("claims.control_room", lambda c: c.get("/admin/claims/export/"), "user_email"),
}


@pytest.mark.parametrize("name", list(EXPORTS))
def test_exports_stream_in_chunks_and_neutralise(boss, data, monkeypatch, name):
    module, request, email_column = EXPORTS[name]
    monkeypatch.setattr(f"{module}.EXPORT_CHUNK_SIZE", CHUNK)
    fetches: list[int] = []
    real_cursor_iter = compiler.cursor_iter

    def counting_cursor_iter(cursor, sentinel, col_count, itersize):
        # Django reads a queryset's rows here; `.iterator(chunk_size=n)` asks for n rows per fetch. Every other
        # query of the request (session, user, …) reads with Django's default of 100, so CHUNK marks the export's.
        for rows in real_cursor_iter(cursor, sentinel, col_count, itersize):
            if itersize == CHUNK:
                fetches.append(len(rows))
            yield rows

    monkeypatch.setattr(compiler, "cursor_iter", counting_cursor_iter)

    response = request(boss)
    assert response.status_code == 200 and response.streaming  # a StreamingHttpResponse
    assert fetches == []  # nothing read yet: rows are read while the body is sent
    body = iter(response.streaming_content)
    header = next(body).decode()
    assert email_column in header and fetches == []
    first = next(body)
    assert fetches == [CHUNK]  # the first row came with one chunk, not with the whole table
    rest = b"".join(body)
    assert fetches == [CHUNK] * (ROWS // CHUNK) + [ROWS % CHUNK]
    rows = list(csv.DictReader(io.StringIO(header + first.decode() + rest.decode())))
    assert len(rows) == ROWS
    emails = [row[email_column] for row in rows]
    assert "'=2+5@example.com" in emails and "=2+5@example.com" not in emails
