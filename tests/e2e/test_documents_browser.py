"""Documents in headless Chromium: a non-owner sees them locked; the owner downloads a watermarked PDF.

The downloaded PDF and a PNG of its first page (rendered with pdftoppm) are saved next to the screenshots.
"""

import shutil
import subprocess

import pytest
from allauth.account.models import EmailAddress
from django.utils import timezone

from cases.demo_pdfs import demo_document_files_for
from cases.models import DocumentAccess
from tests.e2e.conftest import SCREENSHOTS
from tests.factories import CaseFactory, ContactFactory, UserFactory
from tests.security.documents_helpers import pdf_text, stored_document

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _user(email: str):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def test_documents_are_locked_for_others_and_download_watermarked_for_the_owner(
    live_server, browser, page, login, shot, settings, tmp_path
):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    owner = _user("alice@example.com")
    _user("bob@example.com")
    case = CaseFactory(state="TX", county="Harris", city="Houston", assigned_to=owner, assigned_at=timezone.now())
    ContactFactory(case=case)
    for kind, title, data, pages in demo_document_files_for(case):
        stored_document(case, kind=kind, title=title, pages=pages, data=data)

    # Bob does not own the case: the documents exist, locked, without titles that name the case.
    login(page, "bob@example.com")
    page.goto(f"{live_server.url}/cases/{case.pk}/")
    documents = page.locator("#documents")
    documents.scroll_into_view_if_needed()
    text = documents.inner_text()
    assert text.count("Locked") == 2 and "Claim to unlock" not in text  # someone holds it: no claim to offer
    assert documents.locator(".icon.lock").count() == 2
    assert case.case_number not in page.content()
    assert documents.locator("button:has-text('Download')").count() == 0
    shot(page, "documents-01-locked-for-non-owner")

    # Alice owns it: Download gives her a PDF stamped with her e-mail on every page.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    alice = context.new_page()
    alice.set_default_timeout(10_000)
    login(alice, "alice@example.com")
    alice.goto(f"{live_server.url}/cases/{case.pk}/")
    assert alice.locator("#documents button:has-text('Download')").count() == 2
    shot(alice, "documents-02-owner-sees-download")
    with alice.expect_download() as download_info:
        alice.locator("#documents li", has_text="Notice of default").locator("button:has-text('Download')").click()
    download = download_info.value
    assert download.suggested_filename.startswith(f"jsn-case-{case.pk}-notice-of-default-")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    pdf_path = SCREENSHOTS / "documents-03-downloaded.pdf"
    download.save_as(str(pdf_path))
    context.close()

    pages = pdf_text(pdf_path.read_bytes())
    stamp = f"Licensed to alice@example.com · {timezone.localdate().isoformat()} · JSN"
    assert len(pages) >= 2 and all(stamp in page_text for page_text in pages)
    assert any(case.street in page_text.replace("\n", " ") for page_text in pages)  # the real content, for her

    # The first page as a picture, for a human to check the stamp is visible.
    pdftoppm = shutil.which("pdftoppm")
    assert pdftoppm, "pdftoppm (poppler-utils) is needed to render the downloaded PDF"
    prefix = SCREENSHOTS / "documents-04-watermarked-page1"
    subprocess.run(
        [pdftoppm, "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(pdf_path), str(prefix)], check=True
    )
    assert (SCREENSHOTS / "documents-04-watermarked-page1.png").stat().st_size > 10_000

    allowed = DocumentAccess.objects.filter(user=owner, result="allowed").values_list("action", flat=True)
    assert sorted(allowed) == ["download", "link"]
