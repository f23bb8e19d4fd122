"""The Dialfire client and import against a real local HTTP server with state (tests/fakes/dialfire.py)."""

import pytest

from leads.dialfire import IMPORT_OFF, DialfireClient, dialfire_import
from leads.models import ImportSource, Lead
from leads.samples import lead_pdf
from tests.fakes.dialfire import FakeDialfire

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake():
    with FakeDialfire(token="tok", campaign="C1") as server:
        yield server


def client_for(fake: FakeDialfire, token: str = "tok") -> DialfireClient:
    return DialfireClient(base_url=fake.url, token=token, campaign_id="C1")


def pdf(n: int) -> bytes:
    return lead_pdf(plz="10115", city="Berlin", ref=f"DF-{n}")


def source() -> ImportSource:
    return ImportSource.objects.get(name="dialfire")


def test_imports_every_page_and_keeps_the_cursor(fake, monkeypatch):
    monkeypatch.setattr("leads.dialfire.PAGE_SIZE", 3)
    for n in range(8):
        fake.add_contact(f"c-{n}", pdf(n))
    report = dialfire_import(client=client_for(fake))
    assert (report.pages, report.created, report.error) == (3, 8, "")
    assert sorted(Lead.objects.values_list("dialfire_id", flat=True)) == sorted(f"c-{n}" for n in range(8))
    state = source()
    assert state.cursor == "8" and state.imported_total == 8 and state.healthy
    # The next poll starts at the cursor: only what is new is fetched.
    fake.add_contact("c-8", pdf(8))
    fake.requests.clear()
    report = dialfire_import(client=client_for(fake))
    assert report.created == 1
    assert fake.requests[0].endswith("cursor=8&limit=3")
    assert Lead.objects.count() == 9


def test_duplicates_are_one_lead(fake):
    fake.add_contact("c-1", pdf(1))
    fake.add_contact("c-1", pdf(1))  # Dialfire lists an updated contact again
    fake.add_contact("c-2", pdf(1))  # the same PDF under another contact
    report = dialfire_import(client=client_for(fake))
    assert (report.created, report.duplicates) == (1, 2)
    assert Lead.objects.count() == 1


def test_contacts_without_pdf_are_ignored(fake):
    fake.add_contact("c-1", None)
    fake.add_contact("c-2", pdf(2))
    assert dialfire_import(client=client_for(fake)).created == 1


def test_wrong_token_is_recorded_not_raised(fake):
    fake.add_contact("c-1", pdf(1))
    report = dialfire_import(client=client_for(fake, token="wrong"))
    assert "refused the token (HTTP 401)" in report.error
    state = source()
    assert state.consecutive_failures == 1 and not state.healthy
    assert "401" in state.last_error
    assert Lead.objects.count() == 0


def test_down_then_recovers_without_losing_or_doubling(fake, monkeypatch):
    monkeypatch.setattr("leads.dialfire.PAGE_SIZE", 2)
    for n in range(5):
        fake.add_contact(f"c-{n}", pdf(n))
    fake.fail_next = [0, 0, 0, 503]
    report = dialfire_import(client=client_for(fake))
    assert report.created == 2 and "HTTP 503" in report.error
    assert source().cursor == "2" and source().consecutive_failures == 1
    report = dialfire_import(client=client_for(fake))
    assert report.created == 3 and report.error == ""
    assert Lead.objects.count() == 5
    assert source().consecutive_failures == 0


def test_a_failing_pdf_download_keeps_the_page_for_the_next_poll(fake):
    fake.add_contact("c-1", pdf(1))
    fake.add_contact("c-2", pdf(2))
    fake.fail_pdf["c-2"] = 500
    report = dialfire_import(client=client_for(fake))
    # A page is stored whole or not at all: nothing imported, the cursor stays before the page.
    assert report.error and source().cursor == ""
    assert Lead.objects.count() == 0
    del fake.fail_pdf["c-2"]
    report = dialfire_import(client=client_for(fake))
    assert (report.created, report.duplicates, report.error) == (2, 0, "")
    assert Lead.objects.count() == 2


def test_server_unreachable_is_recorded(fake):
    url = fake.url
    fake.stop()
    report = dialfire_import(client=DialfireClient(base_url=url, token="tok", campaign_id="C1"))
    assert "unreachable" in report.error
    assert source().last_error_at is not None


def test_a_base_url_without_token_or_campaign_is_a_recorded_failure(settings):
    settings.DIALFIRE_BASE_URL, settings.DIALFIRE_TOKEN = "https://api.dialfire.invalid", ""
    report = dialfire_import()
    assert "not configured" in report.error and not report.skipped
    assert source().consecutive_failures == 1


def test_off_without_a_base_url_is_skipped_not_a_failure(settings):
    settings.DIALFIRE_BASE_URL = ""
    report = dialfire_import()
    assert (report.skipped, report.error, report.pages) == (IMPORT_OFF, "", 0)
    assert not ImportSource.objects.exists()  # no poll, no failure recorded: the health reading stays "off"


def test_pdf_link_to_another_host_is_not_followed(fake):
    client = client_for(fake)
    with pytest.raises(Exception, match="outside Dialfire"):
        client.download("http://evil.example/steal.pdf")
