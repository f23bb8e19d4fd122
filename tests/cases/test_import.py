"""The case import: idempotent, exact money, bad rows reported and not written, claims untouched."""

import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from cases.models import Case, Contact
from cases.services import CaseImportFileError, case_import, case_import_csv, parse_money_cents
from tests.factories import CaseFactory, ContactFactory, UserFactory

SAMPLE_CSV = Path(settings.BASE_DIR) / "cases" / "fixtures" / "sample_cases.csv"
HEADER = "case_number,state,county,score,stage,auction_date,estimated_value,amount_owed,contact_name,contact_phones"


def csv_bytes(*lines: str, header: str = HEADER) -> bytes:
    return ("\n".join([header, *lines]) + "\n").encode()


def import_csv(*lines: str, header: str = HEADER, source: str = "test"):
    return case_import_csv(data=csv_bytes(*lines, header=header), source=source)


@pytest.fixture
def importer(db):
    """A staff member allowed to import (add + change cases), as the admin requires."""
    user = UserFactory(email="importer@example.com", role="staff")
    user.user_permissions.add(*Permission.objects.filter(codename__in=["add_case", "change_case", "view_case"]))
    return user


# --- The sample file ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_sample_file_imports_good_rows_and_reports_the_bad_one():
    report = case_import_csv(data=SAMPLE_CSV.read_bytes(), source="sample")

    assert (report.created, report.updated, report.unchanged) == (4, 0, 0)
    assert [(r.line, r.reason) for r in report.rejected] == [
        (5, "score must be a whole number from 0 to 100, got '140'")
    ]
    assert not Case.objects.filter(case_number="CV-26-004417").exists()
    assert not Contact.objects.filter(name="James O'Connor").exists()

    miami = Case.objects.get(state="FL", county="Miami-Dade", case_number="2026-CA-001234")
    assert miami.estimated_value_cents == 41_250_000  # "$412,500.00"
    assert miami.amount_owed_cents == 29_875_010  # "298750.10"
    assert miami.stage == Case.Stage.AUCTION_SCHEDULED
    assert miami.auction_date == date(2026, 12, 15)
    assert miami.source == "sample"
    (contact,) = miami.contacts.all()
    assert contact.name == "Maria Gonzalez"
    assert contact.phones == ["(305) 555-0142", "(786) 555-0177"]
    assert contact.emails == ["maria.gonzalez@example.com"]
    assert contact.mailing_address == "1840 NW 7th St, Miami, FL 33125"

    houston = Case.objects.get(case_number="2026-10442")
    assert houston.stage == Case.Stage.NOTICE_OF_SALE  # given by its label, "Notice of sale"
    assert houston.amount_owed_cents == 18_840_050  # "188400.5"
    assert not houston.contacts.exists()  # contact columns left empty


# --- Idempotency -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_importing_the_same_file_twice_creates_nothing_new():
    first = case_import_csv(data=SAMPLE_CSV.read_bytes(), source="sample")
    cases, contacts = Case.objects.count(), Contact.objects.count()
    updated_at = dict(Case.objects.values_list("id", "updated_at"))

    second = case_import_csv(data=SAMPLE_CSV.read_bytes(), source="sample")

    assert (first.created, second.created, second.updated, second.unchanged) == (4, 0, 0, 4)
    assert [r.line for r in second.rejected] == [5]
    assert (Case.objects.count(), Contact.objects.count()) == (cases, contacts)
    assert dict(Case.objects.values_list("id", "updated_at")) == updated_at  # unchanged rows are not rewritten


@pytest.mark.django_db
def test_reimport_applies_changes_to_case_and_contact():
    import_csv("K-1,FL,Broward,50,lis_pendens,,200000,150000,Ann Owner,(954) 555-0101")
    case = Case.objects.get(case_number="K-1")

    report = import_csv("K-1,FL,Broward,72,auction_scheduled,2027-02-01,210000,150000,Ann Owner,(954) 555-0199")

    assert (report.created, report.updated, report.unchanged) == (0, 1, 0)
    case.refresh_from_db()
    assert (case.score, case.stage, case.auction_date) == (72, Case.Stage.AUCTION_SCHEDULED, date(2027, 2, 1))
    assert case.estimated_value_cents == 21_000_000
    (contact,) = case.contacts.all()  # matched by name: updated, not duplicated
    assert contact.phones == ["(954) 555-0199"]


@pytest.mark.django_db
def test_a_contact_change_alone_counts_as_an_update():
    import_csv("K-2,FL,Broward,50,,,,,Ann Owner,(954) 555-0101")
    report = import_csv("K-2,FL,Broward,50,,,,,Ben Heir,(954) 555-0102")

    assert (report.updated, report.unchanged) == (1, 0)
    assert sorted(Case.objects.get(case_number="K-2").contacts.values_list("name", flat=True)) == [
        "Ann Owner",
        "Ben Heir",
    ]


@pytest.mark.django_db
def test_empty_cells_never_erase_stored_values():
    case = CaseFactory(case_number="K-3", state="FL", county="Broward", estimated_value_cents=9_900_000)
    ContactFactory(case=case, name="Ann Owner", phones=["(954) 555-0101"])

    report = import_csv("K-3,FL,Broward,75,,,,,Ann Owner,")

    assert (report.updated, report.unchanged) == (1, 0)  # source "test" is new; nothing else changed
    case.refresh_from_db()
    assert case.estimated_value_cents == 9_900_000
    assert case.stage == Case.Stage.NOTICE_OF_DEFAULT
    assert case.contacts.get().phones == ["(954) 555-0101"]


@pytest.mark.django_db
def test_state_and_county_whitespace_are_normalised_for_matching():
    CaseFactory(case_number="K-4", state="FL", county="Miami-Dade", score=10)
    report = import_csv("K-4 , fl ,  Miami-Dade ,90,,,,,,")

    assert (report.created, report.updated) == (0, 1)
    assert Case.objects.get(case_number="K-4").score == 90


# --- Claims own assignment ---------------------------------------------------------------------
@pytest.mark.django_db
def test_import_never_touches_the_claim_owner(subscriber):
    claimed_at = timezone.now().replace(microsecond=0)
    case = CaseFactory(case_number="K-5", state="FL", county="Broward", score=40)
    Case.objects.filter(pk=case.pk).update(assigned_to=subscriber, assigned_at=claimed_at)

    report = import_csv("K-5,FL,Broward,95,withdrawn,,,,,")

    assert report.updated == 1
    case.refresh_from_db()
    assert (case.score, case.stage) == (95, Case.Stage.WITHDRAWN)
    assert (case.assigned_to, case.assigned_at) == (subscriber, claimed_at)


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["assigned_to", "assigned_at"])
def test_a_file_that_would_assign_cases_is_refused(column, subscriber):
    with pytest.raises(CaseImportFileError, match="only claims assign cases"):
        import_csv(f"K-6,FL,Broward,50,{subscriber.pk}", header=f"case_number,state,county,score,{column}")
    assert not Case.objects.exists()


# --- Bad rows ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_bad_rows_are_reported_by_line_and_not_written_while_good_rows_import():
    report = import_csv(
        "G-1,FL,Broward,50,,,,,Good Owner,(954) 555-0101",  # line 2
        ",FL,Broward,50,,,,,,",  # 3: no case number
        "B-2,Florida,Broward,50,,,,,,",  # 4
        "B-3,FL,Broward,high,,,,,,",  # 5
        "B-4,FL,Broward,50,,12/01/2026,,,,",  # 6
        "B-5,FL,Broward,50,foreclosed,,,,,",  # 7
        "B-6,FL,Broward,50,,,12.345,,,",  # 8
        "B-7,FL,Broward,50,,,,,Bad Phone,call me",  # 9
        "B-8,FL,Broward,50,,,,,,(954) 555-0101",  # 10: phones without a contact name
        "",  # 11: blank lines are skipped, but still counted
        "G-2,FL,Broward,60,,,,-1,,",  # 12: negative money
        "G-3,FL,Broward,60,,,,,,",  # 13
        "G-1,FL,Broward,99,,,,,,",  # 14: the same case as line 2
        "B-9,FL,Broward,50,,,,,,,extra cell",  # 15
    )

    reasons = {r.line: r.reason for r in report.rejected}
    assert sorted(reasons) == [3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15]
    assert reasons[3] == "case_number is required"
    assert "two-letter US state code" in reasons[4] and "'Florida'" in reasons[4]
    assert "score must be a whole number" in reasons[5]
    assert "auction_date must be an ISO date" in reasons[6]
    assert "stage 'foreclosed' is not one of" in reasons[7] and "auction_scheduled" in reasons[7]
    assert "estimated_value must be an amount in dollars" in reasons[8]
    assert "invalid phone number 'call me'" in reasons[9]
    assert reasons[10] == "contact_name is required when other contact columns are filled"
    assert "amount_owed must be an amount in dollars" in reasons[12]
    assert reasons[14].startswith("the same case (state, county, case_number) as line 2")
    assert reasons[15] == "the row has more cells than the header has columns"

    assert (report.created, report.updated, report.rejected_count) == (2, 0, 11)
    assert sorted(Case.objects.values_list("case_number", flat=True)) == ["G-1", "G-3"]
    assert Case.objects.get(case_number="G-1").score == 50  # line 14 did not overwrite line 2
    assert list(Contact.objects.values_list("name", flat=True)) == ["Good Owner"]


@pytest.mark.django_db
def test_a_bad_row_for_an_existing_case_leaves_it_untouched():
    case = CaseFactory(case_number="K-7", state="FL", county="Broward", score=40, stage=Case.Stage.LIS_PENDENS)
    ContactFactory(case=case, name="Ann Owner", phones=["(954) 555-0101"])

    report = import_csv("K-7,FL,Broward,90,auction_scheduled,2027-13-45,,,Ann Owner,(954) 555-0199")

    assert [r.line for r in report.rejected] == [2]
    case.refresh_from_db()
    assert (case.score, case.stage, case.auction_date) == (40, Case.Stage.LIS_PENDENS, None)
    assert case.contacts.get().phones == ["(954) 555-0101"]


@pytest.mark.django_db
def test_text_longer_than_the_column_is_rejected_not_truncated():
    report = import_csv(f"{'X' * 65},FL,Broward,50,,,,,,")
    assert report.rejected[0].reason == "case_number is longer than 64 characters"
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_nul_characters_are_rejected_before_reaching_the_database():
    row = {"case_number": "N\x00-1", "state": "FL", "county": "Broward", "score": "5"}
    report = case_import(rows=[row], source="t")
    assert "NUL character" in report.rejected[0].reason
    assert not Case.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_case_created_by_a_concurrent_import_is_updated_not_duplicated():
    """Our lookup cannot see another transaction's uncommitted case; the insert then collides with it.

    The import must neither fail nor lose the other rows of its chunk: it retries row by row and updates.
    """
    inserted, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def other_import() -> None:
        try:
            with transaction.atomic():
                Case.objects.create(case_number="R-1", state="FL", county="Broward", score=10)
                inserted.set()
                release.wait(10)
        finally:
            connections.close_all()

    def our_import() -> None:
        try:
            outcome["report"] = import_csv("R-0,FL,Broward,20,,,,,,", "R-1,FL,Broward,90,,,,,,")
        finally:
            connections.close_all()

    other = threading.Thread(target=other_import)
    other.start()
    assert inserted.wait(10)
    ours = threading.Thread(target=our_import)
    ours.start()
    # Hold the other transaction open until our insert is seen waiting on its row, then commit it.
    deadline = time.monotonic() + 10
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                break
            time.sleep(0.02)
        else:
            pytest.fail("the import never waited on the concurrent insert")
    release.set()
    other.join(10)
    ours.join(10)

    report = outcome["report"]
    assert (report.created, report.updated, report.rejected) == (1, 1, [])
    assert Case.objects.get(case_number="R-1").score == 90
    assert Case.objects.filter(case_number__in=["R-0", "R-1"]).count() == 2


# --- Money -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("0", 0),
        ("0.1", 10),
        ("0.29", 29),  # float(0.29) * 100 == 28.999999999999996
        ("19.99", 1999),
        ("$1,250,000.50", 125_000_050),
        ("1250000.5", 125_000_050),
        ("90071992547.41", 9_007_199_254_741),  # beyond float's exact integer range once in cents
    ],
)
def test_money_is_parsed_exactly_to_cents(text, cents):
    assert parse_money_cents(text) == cents


@pytest.mark.django_db
def test_money_survives_the_round_trip_exactly():
    import_csv("M-1,FL,Broward,50,,,8589934592.07,1000000.01,,")
    case = Case.objects.get(case_number="M-1")
    assert (case.estimated_value_cents, case.amount_owed_cents) == (858_993_459_207, 100_000_001)


@pytest.mark.parametrize(
    "text", ["12.345", "1e5", "-5", "NaN", "Infinity", "12,34", "$", "1.2.3", "0x10", "5 USD", "\u0661\u0662\u0663"]
)
def test_malformed_money_is_refused(text):
    with pytest.raises(ValueError, match="amount in dollars"):
        parse_money_cents(text)


def test_implausibly_large_money_is_refused():
    with pytest.raises(ValueError, match="implausibly large"):
        parse_money_cents("2000000000000")


# --- The file as a whole -----------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty"),
        (b"case_number,state,county\nX,FL,Broward\n", "lacks required column(s): score"),
        (b"case_number,state,county,score,amount_owned\n", "unknown column(s): amount_owned"),
        (b"case_number,state,county,score,score\n", "more than once: score"),
        ("case_number,state,county,score\nX,FL,Dad\xe9,5\n".encode("latin-1"), "not UTF-8"),
    ],
)
def test_an_unusable_file_is_refused_whole(data, message):
    with pytest.raises(CaseImportFileError) as error:
        case_import_csv(data=data, source="t")
    assert message in str(error.value)
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_excel_byte_order_mark_and_header_case_are_accepted():
    report = case_import_csv(data=b"\xef\xbb\xbfCase_Number,State,County,Score\r\nX-1,FL,Broward,5\r\n", source="t")
    assert report.created == 1


@pytest.mark.django_db
def test_progress_is_reported_for_every_row():
    seen = []
    case_import(
        rows=[{"case_number": f"P-{i}", "state": "FL", "county": "Broward", "score": "5"} for i in range(1203)],
        source="t",
        progress=seen.append,
    )
    assert sum(seen) == 1203 and len(seen) == 3  # one call per chunk of 500
    assert Case.objects.count() == 1203


# --- The management command --------------------------------------------------------------------
@pytest.mark.django_db
def test_command_prints_summary_and_each_rejected_line(capsys):
    call_command("import_cases", str(SAMPLE_CSV), "--source", "county-feed")

    out = capsys.readouterr().out
    assert "4 created, 0 updated, 0 unchanged, 1 rejected" in out
    assert "line 5: score must be a whole number from 0 to 100, got '140'" in out
    assert set(Case.objects.values_list("source", flat=True)) == {"county-feed"}

    call_command("import_cases", str(SAMPLE_CSV), "--source", "county-feed")
    assert "0 created, 0 updated, 4 unchanged, 1 rejected" in capsys.readouterr().out


@pytest.mark.django_db
def test_command_defaults_the_source_to_the_file_name(capsys):
    call_command("import_cases", str(SAMPLE_CSV))
    assert set(Case.objects.values_list("source", flat=True)) == {"sample_cases.csv"}


@pytest.mark.django_db
def test_command_refuses_a_missing_file():
    with pytest.raises(CommandError, match=r"No such file: /nonexistent/missing\.csv"):
        call_command("import_cases", "/nonexistent/missing.csv")


@pytest.mark.django_db
def test_command_refuses_a_wrong_header(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("number,state,county,score\nX,FL,Broward,5\n")
    with pytest.raises(CommandError, match=r"wrong\.csv: The header lacks required column\(s\): case_number\."):
        call_command("import_cases", str(path))
    assert not Case.objects.exists()


def test_command_exit_code_is_non_zero_without_a_traceback_when_the_file_is_missing(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "import_cases", str(tmp_path / "missing.csv")],
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "CommandError: No such file" in result.stderr
    assert "Traceback" not in result.stderr


# --- The admin import --------------------------------------------------------------------------
@pytest.mark.django_db
def test_staff_imports_through_the_admin_and_sees_the_report(client, importer):
    client.force_login(importer)
    changelist = client.get(reverse("admin:cases_case_changelist"))
    import_url = reverse("admin:cases_case_import")
    assert import_url in changelist.content.decode()  # the "Import CSV" button

    assert client.get(import_url).status_code == 200
    upload = SimpleUploadedFile("sample_cases.csv", SAMPLE_CSV.read_bytes(), content_type="text/csv")
    response = client.post(import_url, {"file": upload, "source": "admin-upload"})

    assert response.status_code == 200
    page = response.content.decode()
    assert "Imported sample_cases.csv: 4 created, 0 updated, 0 unchanged, 1 rejected." in page
    assert "<td>5</td><td>score must be a whole number from 0 to 100, got &#x27;140&#x27;</td>" in page
    assert Case.objects.filter(source="admin-upload").count() == 4


@pytest.mark.django_db
def test_admin_import_shows_a_wrong_header_as_a_form_error(client, importer):
    client.force_login(importer)
    upload = SimpleUploadedFile("bad.csv", b"number,state\n1,FL\n", content_type="text/csv")
    response = client.post(reverse("admin:cases_case_import"), {"file": upload})

    assert response.status_code == 200
    assert "The header lacks required column(s): case_number, county, score." in response.content.decode()
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_admin_import_is_refused_to_subscribers(client, subscriber):
    client.force_login(subscriber)
    upload = SimpleUploadedFile("sample_cases.csv", SAMPLE_CSV.read_bytes(), content_type="text/csv")
    response = client.post(reverse("admin:cases_case_import"), {"file": upload})

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))  # sent to log in as staff, not into the admin
    assert not Case.objects.exists()


@pytest.mark.django_db
def test_admin_import_is_refused_to_staff_without_case_permissions(client, staff_user):
    client.force_login(staff_user)
    upload = SimpleUploadedFile("sample_cases.csv", SAMPLE_CSV.read_bytes(), content_type="text/csv")
    response = client.post(reverse("admin:cases_case_import"), {"file": upload})

    assert response.status_code == 403
    assert not Case.objects.exists()
