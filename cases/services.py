"""Writes for cases: the case import (CSV file, management command and admin all go through `case_import`), and
the cleanup of stored document files that no row references."""

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import DatabaseError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from cases.models import Case, Contact, Document
from jsn.lib.orphans import OrphanReport, orphan_files_delete, upload_root

# --- Columns ----------------------------------------------------------------------------------
REQUIRED_COLUMNS = ("case_number", "state", "county", "score")
CASE_COLUMNS = (
    *REQUIRED_COLUMNS,
    "filing_date",
    "stage",
    "auction_date",
    "street",
    "city",
    "zip_code",
    "parcel_number",
    "property_type",
    "estimated_value",
    "amount_owed",
    "status",
    "last_verified_at",
)
CONTACT_COLUMNS = (
    "contact_name",
    "contact_relation",
    "contact_phones",
    "contact_emails",
    "contact_mailing_address",
)
ALLOWED_COLUMNS = (*CASE_COLUMNS, *CONTACT_COLUMNS)
# Claims own these; an import that could set them would hand out or take away exclusive access.
FORBIDDEN_COLUMNS = ("assigned_to", "assigned_at")

# Case fields an import may write. assigned_to/assigned_at are deliberately absent (see above).
IMPORT_FIELDS = (
    "filing_date",
    "stage",
    "auction_date",
    "street",
    "city",
    "zip_code",
    "parcel_number",
    "property_type",
    "estimated_value_cents",
    "amount_owed_cents",
    "score",
    "status",
    "last_verified_at",
    "source",
)

_US_STATE_CODES = (
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK "
    "OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC PR VI GU AS MP"
)
US_STATES = frozenset(_US_STATE_CODES.split(" "))
# Dollars with at most two decimals, optionally with "$" and thousands separators: "$1,250,000.50".
# [0-9], not \d: \d also matches other scripts' digits, which Decimal and int() would then accept.
MONEY_RE = re.compile(r"^\$?(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]{1,2})?$")
MAX_MONEY_CENTS = 10**14  # $1 trillion: anything larger is a unit mistake, not a house
DATE_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
ZIP_RE = re.compile(r"^[0-9]{5}(?:-[0-9]{4})?$")
SCORE_RE = re.compile(r"^[0-9]{1,3}$")
PHONE_RE = re.compile(r"^[0-9+().\-\s/xX#]+$")
CHUNK_SIZE = 500

# --- Error texts ------------------------------------------------------------------------------
ERR_NOT_UTF8 = "The file is not UTF-8 text (save it as 'CSV UTF-8')."
ERR_NOT_CSV = "The file is not a readable CSV: {error}."
ERR_EMPTY_FILE = "The file is empty: the first line must be a header naming the columns."
ERR_MISSING_COLUMNS = "The header lacks required column(s): {columns}."
ERR_UNKNOWN_COLUMNS = "The header has unknown column(s): {columns}. Allowed columns: {allowed}."
ERR_DUPLICATE_COLUMNS = "The header names column(s) more than once: {columns}."
ERR_FORBIDDEN_COLUMNS = "Column(s) {columns} cannot be imported: only claims assign cases."
ERR_REQUIRED = "{column} is required"
ERR_TOO_MANY_CELLS = "the row has more cells than the header has columns"
ERR_NUL = "the row contains a NUL character (a binary or corrupted file?)"
ERR_TOO_LONG = "{column} is longer than {max_length} characters"
ERR_STATE = "state must be a two-letter US state code, got {value!r}"
ERR_SCORE = "score must be a whole number from 0 to 100, got {value!r}"
ERR_DATE = "{column} must be an ISO date (YYYY-MM-DD), got {value!r}"
ERR_DATETIME = "{column} must be an ISO date-time (YYYY-MM-DDTHH:MM[:SS][+HH:MM]), got {value!r}"
ERR_MONEY = (
    "{column} must be an amount in dollars with at most two decimals (e.g. 250000 or $250,000.00), got {value!r}"
)
ERR_MONEY_TOO_LARGE = "{column} is implausibly large: {value!r}"
ERR_CHOICE = "{column} {value!r} is not one of: {choices}"
ERR_ZIP = "zip_code must be a US ZIP code (12345 or 12345-6789), got {value!r}"
ERR_PHONE = "contact_phones has an invalid phone number {value!r}"
ERR_EMAIL = "contact_emails has an invalid e-mail address {value!r}"
ERR_CONTACT_WITHOUT_NAME = "contact_name is required when other contact columns are filled"
ERR_DUPLICATE_ROW = "the same case (state, county, case_number) as line {line}; a file may name each case once"
ERR_DATABASE = "the database refused the row ({error})"


class CaseImportFileError(ValueError):
    """The file as a whole cannot be imported (not CSV, not UTF-8, wrong header). Nothing was written."""


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass
class ImportReport:
    """What an import did. Line numbers count the header as line 1, one line per record (as a spreadsheet shows)."""

    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[RejectedRow] = field(default_factory=list)

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected_count

    def summary(self) -> str:
        return (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected_count} rejected"
        )


class _RowError(ValueError):
    pass


@dataclass
class _ContactRow:
    name: str
    values: dict[str, Any]  # only the contact fields the row filled in


@dataclass
class _ParsedRow:
    line: int
    key: tuple[str, str, str]
    values: dict[str, Any]  # only the case fields the row filled in (empty cells never erase data)
    contact: _ContactRow | None


# --- Parsing (pure) ---------------------------------------------------------------------------
def _max_length(field_name: str) -> int | None:
    return Case._meta.get_field(field_name).max_length


def _text(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    if value is None:
        return ""
    # Collapse runs of whitespace: "Miami-Dade " and "Miami-Dade" must be the same county.
    return " ".join(str(value).split())


def _checked_length(value: str, column: str, max_length: int | None) -> str:
    if max_length is not None and len(value) > max_length:
        raise _RowError(ERR_TOO_LONG.format(column=column, max_length=max_length))
    return value


def _parse_choice(value: str, column: str, choices: type[Case.Stage] | Any) -> str:
    wanted = value.casefold().replace(" ", "_").replace("-", "_")
    for choice_value, label in choices.choices:
        if wanted in (choice_value.casefold(), label.casefold().replace(" ", "_").replace("-", "_")):
            return choice_value
    raise _RowError(ERR_CHOICE.format(column=column, value=value, choices=", ".join(choices.values)))


def _parse_date(value: str, column: str) -> date:
    try:
        if not DATE_RE.match(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _RowError(ERR_DATE.format(column=column, value=value)) from None


def _parse_datetime(value: str, column: str) -> datetime:
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise _RowError(ERR_DATETIME.format(column=column, value=value))
    # A source without an offset reports UTC; guessing the server's zone would shift it silently.
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def parse_money_cents(value: str, *, column: str = "amount") -> int:
    """Dollars as written in a CSV → integer cents, exactly (Decimal, never float)."""
    compact = value.replace(" ", "")
    if not MONEY_RE.match(compact):
        raise _RowError(ERR_MONEY.format(column=column, value=value))
    try:
        cents = int(Decimal(compact.lstrip("$").replace(",", "")) * 100)
    except InvalidOperation:  # pragma: no cover - the pattern admits only plain decimals
        raise _RowError(ERR_MONEY.format(column=column, value=value)) from None
    if cents > MAX_MONEY_CENTS:
        raise _RowError(ERR_MONEY_TOO_LARGE.format(column=column, value=value))
    return cents


def _parse_score(value: str) -> int:
    if not SCORE_RE.match(value) or not 0 <= int(value) <= 100:
        raise _RowError(ERR_SCORE.format(value=value))
    return int(value)


def _split_list(value: str) -> list[str]:
    items: list[str] = []
    for item in value.split(";"):
        item = item.strip()
        if item and item not in items:
            items.append(item)
    return items


def _parse_contact(row: Mapping[str, Any]) -> _ContactRow | None:
    name = _checked_length(_text(row, "contact_name"), "contact_name", Contact._meta.get_field("name").max_length)
    values: dict[str, Any] = {}
    if relation := _text(row, "contact_relation"):
        values["relation"] = _parse_choice(relation, "contact_relation", Contact.Relation)
    if phones := _text(row, "contact_phones"):
        values["phones"] = _split_list(phones)
        for phone in values["phones"]:
            if not PHONE_RE.match(phone) or sum(ch in "0123456789" for ch in phone) < 7:
                raise _RowError(ERR_PHONE.format(value=phone))
    if emails := _text(row, "contact_emails"):
        values["emails"] = [email.lower() for email in _split_list(emails)]
        for email in values["emails"]:
            try:
                validate_email(email)
            except ValidationError:
                raise _RowError(ERR_EMAIL.format(value=email)) from None
    if address := _text(row, "contact_mailing_address"):
        max_length = Contact._meta.get_field("mailing_address").max_length
        values["mailing_address"] = _checked_length(address, "contact_mailing_address", max_length)
    if not name:
        if values:
            raise _RowError(ERR_CONTACT_WITHOUT_NAME)
        return None
    return _ContactRow(name=name, values=values)


def _parse_row(line: int, row: Mapping[str, Any]) -> _ParsedRow:
    if row.get(None):  # csv.DictReader files surplus cells under the key None
        raise _RowError(ERR_TOO_MANY_CELLS)
    if any("\x00" in str(value) for value in row.values() if value is not None):
        raise _RowError(ERR_NUL)  # PostgreSQL refuses NUL in text; say so before writing, not as a database error
    for column in REQUIRED_COLUMNS:
        if not _text(row, column):
            raise _RowError(ERR_REQUIRED.format(column=column))

    state = _text(row, "state").upper()
    if state not in US_STATES:
        raise _RowError(ERR_STATE.format(value=_text(row, "state")))
    county = _checked_length(_text(row, "county"), "county", _max_length("county"))
    case_number = _checked_length(_text(row, "case_number"), "case_number", _max_length("case_number"))

    values: dict[str, Any] = {"score": _parse_score(_text(row, "score"))}
    for column in ("filing_date", "auction_date"):
        if raw := _text(row, column):
            values[column] = _parse_date(raw, column)
    if raw := _text(row, "last_verified_at"):
        values["last_verified_at"] = _parse_datetime(raw, "last_verified_at")
    for column, choices in (("stage", Case.Stage), ("property_type", Case.PropertyType), ("status", Case.Status)):
        if raw := _text(row, column):
            values[column] = _parse_choice(raw, column, choices)
    for column in ("street", "city", "parcel_number"):
        if raw := _text(row, column):
            values[column] = _checked_length(raw, column, _max_length(column))
    if raw := _text(row, "zip_code"):
        if not ZIP_RE.match(raw):
            raise _RowError(ERR_ZIP.format(value=raw))
        values["zip_code"] = raw
    for column in ("estimated_value", "amount_owed"):
        if raw := _text(row, column):
            values[f"{column}_cents"] = parse_money_cents(raw, column=column)

    return _ParsedRow(line=line, key=(state, county, case_number), values=values, contact=_parse_contact(row))


# --- Writing ----------------------------------------------------------------------------------
def _batched(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    iterator = iter(items)  # itertools.batched arrives only with Python 3.12
    while batch := list(islice(iterator, size)):
        yield batch


def case_import(
    *,
    rows: Iterable[Mapping[str, Any]],
    source: str,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Create or update cases from rows (dicts keyed by column name); idempotent on (state, county, case_number).

    Every row is validated before anything is written; a rejected row writes nothing and is reported with its
    line (the first row is line 2, after the header). Empty cells never erase stored values. A row's contact is
    matched to the case's existing contacts by name, so re-importing updates it instead of adding a copy.
    `assigned_to`/`assigned_at` are never touched: claims own them. `progress` is called with the number of
    rows handled since its previous call (tqdm's `update` fits).
    """
    report = ImportReport(source=source)
    first_line_of: dict[tuple[str, str, str], int] = {}
    for chunk in _batched(enumerate(rows, start=2), CHUNK_SIZE):
        parsed: list[_ParsedRow] = []
        for line, row in chunk:
            if not any(_text(row, column) for column in row if column is not None):
                continue  # a blank line, as spreadsheets leave at the end
            try:
                parsed_row = _parse_row(line, row)
            except _RowError as error:
                report.rejected.append(RejectedRow(line=line, reason=str(error)))
                continue
            if parsed_row.key in first_line_of:
                reason = ERR_DUPLICATE_ROW.format(line=first_line_of[parsed_row.key])
                report.rejected.append(RejectedRow(line=line, reason=reason))
                continue
            first_line_of[parsed_row.key] = line
            parsed.append(parsed_row)
        if parsed:
            _write_chunk(parsed=parsed, source=source, report=report)
        if progress is not None:
            progress(len(chunk))
    report.rejected.sort(key=lambda rejected: rejected.line)
    return report


def _write_chunk(*, parsed: list[_ParsedRow], source: str, report: ImportReport) -> None:
    """Write a chunk in a few bulk queries; if the database refuses any of it, redo it row by row.

    The bulk attempt runs in a savepoint, so a refusal (e.g. a concurrent import creating the same case)
    leaves nothing behind; the row-by-row retry gives every row its own savepoint, so only the offending row
    is rejected and the good rows still land.
    """
    try:
        with transaction.atomic():
            outcomes = _write_rows(parsed, source=source)
    except DatabaseError:
        outcomes = []
        for parsed_row in parsed:
            try:
                with transaction.atomic():
                    outcomes += _write_rows([parsed_row], source=source)
            except DatabaseError as error:
                reason = ERR_DATABASE.format(error=str(error).strip().splitlines()[0][:200])
                report.rejected.append(RejectedRow(line=parsed_row.line, reason=reason))
    for outcome in outcomes:
        setattr(report, outcome, getattr(report, outcome) + 1)


def _write_rows(parsed: list[_ParsedRow], *, source: str) -> list[str]:
    """Create/update the cases and contacts of already-validated rows; returns each row's outcome."""
    now = timezone.now()
    numbers = {row.key[2] for row in parsed}
    # Over-fetches cases sharing a number in other courts; filtered by the full key below. One query.
    existing = {
        (case.state, case.county, case.case_number): case
        for case in Case.objects.filter(case_number__in=numbers).only(
            "id", "state", "county", "case_number", *IMPORT_FIELDS
        )
    }

    new_cases: list[Case] = []
    changed_cases: list[Case] = []
    case_of: dict[int, Case] = {}  # line → case
    outcome_of: dict[int, str] = {}
    for row in parsed:
        values = {**row.values, "source": source}
        case = existing.get(row.key)
        if case is None:
            state, county, case_number = row.key
            case = Case(state=state, county=county, case_number=case_number, **values)
            new_cases.append(case)
            outcome_of[row.line] = "created"
        elif any(getattr(case, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(case, name, value)
            case.updated_at = now  # bulk_update skips auto_now
            changed_cases.append(case)
            outcome_of[row.line] = "updated"
        else:
            outcome_of[row.line] = "unchanged"
        case_of[row.line] = case

    Case.objects.bulk_create(new_cases)  # both backends return the new ids (RETURNING)
    if changed_cases:
        Case.objects.bulk_update(changed_cases, [*IMPORT_FIELDS, "updated_at"])

    rows_with_contact = [row for row in parsed if row.contact is not None]
    existing_case_ids = [case_of[row.line].pk for row in rows_with_contact if outcome_of[row.line] != "created"]
    contacts = {
        (contact.case_id, contact.name.casefold()): contact
        for contact in Contact.objects.filter(case_id__in=existing_case_ids)
    }
    new_contacts: list[Contact] = []
    changed_contacts: list[Contact] = []
    contact_only: list[int] = []  # cases whose only change is a contact
    for row in rows_with_contact:
        assert row.contact is not None
        case = case_of[row.line]
        contact = contacts.get((case.pk, row.contact.name.casefold()))
        if contact is None:
            contact = Contact(case=case, name=row.contact.name, **row.contact.values)
            contacts[(case.pk, row.contact.name.casefold())] = contact
            new_contacts.append(contact)
        elif any(getattr(contact, name) != value for name, value in row.contact.values.items()):
            for name, value in row.contact.values.items():
                setattr(contact, name, value)
            changed_contacts.append(contact)
        else:
            continue
        if outcome_of[row.line] == "unchanged":
            outcome_of[row.line] = "updated"
            contact_only.append(case.pk)
    Contact.objects.bulk_create(new_contacts)
    if changed_contacts:
        Contact.objects.bulk_update(changed_contacts, ["relation", "phones", "emails", "mailing_address"])
    if contact_only:
        # A new or changed contact is a change of its case: updated_at says when the case last changed.
        Case.objects.filter(pk__in=contact_only).update(updated_at=now)
    return [outcome_of[row.line] for row in parsed]


# --- CSV adapter ------------------------------------------------------------------------------
def case_import_check_columns(*, columns: list[str]) -> None:
    """Raise CaseImportFileError when a header cannot describe cases; called before any row is read."""
    duplicates = sorted({column for column in columns if columns.count(column) > 1})
    if duplicates:
        raise CaseImportFileError(ERR_DUPLICATE_COLUMNS.format(columns=", ".join(duplicates)))
    forbidden = [column for column in columns if column in FORBIDDEN_COLUMNS]
    if forbidden:
        raise CaseImportFileError(ERR_FORBIDDEN_COLUMNS.format(columns=", ".join(forbidden)))
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise CaseImportFileError(ERR_MISSING_COLUMNS.format(columns=", ".join(missing)))
    # Unknown columns are refused rather than ignored: a misspelt "amount_owned" would otherwise drop data silently.
    unknown = [column for column in columns if column not in ALLOWED_COLUMNS]
    if unknown:
        raise CaseImportFileError(
            ERR_UNKNOWN_COLUMNS.format(columns=", ".join(unknown), allowed=", ".join(ALLOWED_COLUMNS))
        )


def case_import_read_csv(*, data: bytes) -> list[dict[str, str | None]]:
    """Decode and parse a whole CSV file into rows, checking its header. Raises CaseImportFileError.

    The file is read completely before the import starts, so a file that turns out unreadable half-way
    writes nothing at all.
    """
    try:
        text = data.decode("utf-8-sig")  # Excel's "CSV UTF-8" starts with a byte-order mark
    except UnicodeDecodeError:
        raise CaseImportFileError(ERR_NOT_UTF8) from None
    try:
        reader = csv.reader(io.StringIO(text, newline=""))
        records = list(reader)
    except csv.Error as error:
        raise CaseImportFileError(ERR_NOT_CSV.format(error=error)) from None
    if not records or not any(cell.strip() for cell in records[0]):
        raise CaseImportFileError(ERR_EMPTY_FILE)
    columns = [cell.strip().lower() for cell in records[0]]
    case_import_check_columns(columns=columns)
    rows: list[dict[str, str | None]] = []
    for record in records[1:]:
        row: dict[str, Any] = dict(zip(columns, record, strict=False))
        if len(record) > len(columns):
            row[None] = record[len(columns) :]
        rows.append(row)
    return rows


def case_import_csv(*, data: bytes, source: str, progress: Callable[[int], None] | None = None) -> ImportReport:
    """Import a CSV file's bytes. Raises CaseImportFileError (writing nothing) when the file is unusable."""
    return case_import(rows=case_import_read_csv(data=data), source=source, progress=progress)


# --- Retention --------------------------------------------------------------------------------
def document_files_orphaned_delete(*, now: datetime | None = None) -> OrphanReport:
    """Delete stored document files that no Document references (a deleted document, an upload whose row never
    committed) once older than RETENTION_ORPHAN_FILE_DAYS. Idempotent; a second run at once is harmless."""
    now = now or timezone.now()
    file_field = Document._meta.get_field("file")

    def referenced(names: list[str]) -> set[str]:
        return set(Document.objects.filter(file__in=names).values_list("file", flat=True))

    return orphan_files_delete(
        storage=file_field.storage,
        top=upload_root(file_field),
        referenced=referenced,
        older_than=now - timedelta(days=settings.RETENTION_ORPHAN_FILE_DAYS),
    )
