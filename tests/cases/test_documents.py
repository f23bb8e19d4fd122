"""Document links and downloads: owners get a watermarked file through a signed link; every attempt is logged."""

import io
import tracemalloc
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from cases import watermark
from cases.demo_pdfs import demo_document_files_for
from cases.models import Document, DocumentAccess, ImmutableAccessError
from tests.factories import DocumentFactory, UserFactory, secrets_of
from tests.security.documents_helpers import body_of, make_pdf, pdf_text, stored_document

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _private_media(settings, tmp_path):
    settings.MEDIA_ROOT = str(tmp_path / "media")


@pytest.fixture
def owned_case(make_case, subscriber):
    return make_case(assigned_to=subscriber, assigned_at=timezone.now())


def _link(client, document) -> dict:
    response = client.post(f"/api/v3/documents/{document.pk}/link")
    assert response.status_code == 201, response.content
    return response.json()


def test_owner_gets_a_one_hour_link_and_a_watermarked_pdf(client, subscriber, owned_case):
    document = stored_document(owned_case, pages=3, title=f"Lis pendens {owned_case.case_number}")
    client.force_login(subscriber)
    data = _link(client, document)
    expires_at = timezone.datetime.fromisoformat(data["expires_at"])
    assert abs(expires_at - (timezone.now() + timedelta(hours=1))) < timedelta(seconds=30)
    assert data["url"].startswith("http://testserver/cases/documents/download/")

    response = client.get(data["url"], REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    disposition = response["Content-Disposition"]
    assert disposition == f'attachment; filename="jsn-case-{owned_case.pk}-notice-of-default-{document.pk}.pdf"'
    assert owned_case.case_number not in disposition  # the title is never the filename
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"

    pages = pdf_text(body_of(response))
    stamp = f"Licensed to sub@example.com · {timezone.localdate().isoformat()} · JSN"
    assert len(pages) == 3
    for number, text in enumerate(pages, start=1):
        assert f"Original content — page {number}" in text  # the content is still there…
        assert stamp in text  # …with the licence on every page

    rows = list(DocumentAccess.objects.order_by("id").values_list("action", "result", "reason", "user", "ip"))
    assert rows == [
        ("link", "allowed", "ok", subscriber.pk, "127.0.0.1"),
        ("download", "allowed", "ok", subscriber.pk, "203.0.113.7"),
    ]
    assert DocumentAccess.objects.filter(case=owned_case, document=document).count() == 2


def test_non_owner_is_refused_a_link_and_the_refusal_is_logged(client, other_subscriber, owned_case):
    document = stored_document(owned_case)
    client.force_login(other_subscriber)
    response = client.post(f"/api/v3/documents/{document.pk}/link")
    assert response.status_code == 403
    assert response.json()["code"] == "not_owner"
    assert "/documents/download/" not in response.content.decode()
    access = DocumentAccess.objects.get()
    assert (access.action, access.result, access.reason, access.user, access.case) == (
        "link",
        "refused",
        "not_owner",
        other_subscriber,
        owned_case,
    )


def test_unknown_document_is_404_with_code(client, subscriber):
    client.force_login(subscriber)
    response = client.post("/api/v3/documents/999999/link")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_anonymous_api_caller_gets_no_link(client, owned_case):
    document = stored_document(owned_case)
    assert client.post(f"/api/v3/documents/{document.pk}/link").status_code == 401


def test_staff_get_links_for_any_case(client, staff_user, make_case):
    document = stored_document(make_case())
    client.force_login(staff_user)
    response = client.get(_link(client, document)["url"])
    assert response.status_code == 200
    assert any("Licensed to staff@example.com" in text for text in pdf_text(body_of(response)))


def test_other_file_types_are_served_as_stored(client, subscriber, owned_case):
    document = DocumentFactory(case=owned_case, content_type="text/csv", kind=Document.Kind.SKIP_TRACE)
    document.file.save("trace.csv", ContentFile(b"name,phone\nA,1\n"), save=True)
    client.force_login(subscriber)
    response = client.get(_link(client, document)["url"])
    assert response.status_code == 200
    assert body_of(response) == b"name,phone\nA,1\n"
    assert response["Content-Disposition"].startswith(f'attachment; filename="jsn-case-{owned_case.pk}-skip-trace-')
    assert response["Cache-Control"] == "private, no-store"


def test_a_document_without_a_file_is_404_not_500(client, subscriber, owned_case):
    document = DocumentFactory(case=owned_case)
    client.force_login(subscriber)
    response = client.get(_link(client, document)["url"])
    assert response.status_code == 404
    assert DocumentAccess.objects.filter(action="download").get().reason == "no_file"


def test_a_corrupt_pdf_is_never_served_unstamped(client, subscriber, owned_case):
    document = stored_document(owned_case, data=b"%PDF-1.4 this is not really a pdf")
    client.force_login(subscriber)
    response = client.get(_link(client, document)["url"])
    assert response.status_code == 500
    assert b"not really a pdf" not in body_of(response)
    assert DocumentAccess.objects.filter(action="download").get().reason == "unreadable"


def test_link_creation_is_rate_limited_per_user(client, settings, subscriber, owned_case):
    settings.DOCUMENT_RATE_LIMIT_PER_HOUR = 3
    document = stored_document(owned_case)
    client.force_login(subscriber)
    for _ in range(3):
        _link(client, document)
    response = client.post(f"/api/v3/documents/{document.pk}/link")
    assert response.status_code == 429
    assert response.json()["code"] == "rate_limited"
    assert 0 < int(response["Retry-After"]) <= 3600
    assert DocumentAccess.objects.filter(reason="rate_limited").count() == 1
    # Another user has their own allowance.
    other = UserFactory(email="colleague@example.com", role="staff")
    client.force_login(other)
    assert client.post(f"/api/v3/documents/{document.pk}/link").status_code == 201


def test_downloads_are_rate_limited_per_user(client, settings, subscriber, owned_case):
    settings.DOCUMENT_RATE_LIMIT_PER_HOUR = 2
    document = stored_document(owned_case)
    client.force_login(subscriber)
    url = _link(client, document)["url"]
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    response = client.get(url)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response["Cache-Control"] == "private, no-store"


def test_the_download_button_creates_a_link_and_redirects_to_it(client, subscriber, other_subscriber, owned_case):
    document = stored_document(owned_case)
    client.force_login(subscriber)
    response = client.post(f"/cases/documents/{document.pk}/link/")
    assert response.status_code == 302
    assert response["Location"].startswith("/cases/documents/download/")
    assert client.get(response["Location"]).status_code == 200
    assert client.get(f"/cases/documents/{document.pk}/link/").status_code == 405

    client.force_login(other_subscriber)
    response = client.post(f"/cases/documents/{document.pk}/link/")
    assert response.status_code == 403
    assert "Claim the case to unlock" in response.content.decode()
    for secret in secrets_of(owned_case):
        assert secret not in response.content.decode()


def test_access_records_cannot_be_changed_or_deleted(subscriber, owned_case):
    document = stored_document(owned_case)
    access = DocumentAccess.objects.create(
        action="download", result="allowed", reason="ok", user=subscriber, document=document, created_at=timezone.now()
    )
    access.reason = "not_owner"
    with pytest.raises(ImmutableAccessError):
        access.save()
    with pytest.raises(ImmutableAccessError):
        access.delete()
    with pytest.raises(ImmutableAccessError):
        DocumentAccess.objects.filter(pk=access.pk).update(result="refused")
    with pytest.raises(ImmutableAccessError):
        DocumentAccess.objects.all().delete()


@pytest.mark.postgres
def test_the_database_refuses_raw_updates_and_deletes_of_access_records(subscriber, owned_case):
    access = DocumentAccess.objects.create(
        action="link", result="allowed", reason="ok", user=subscriber, created_at=timezone.now()
    )
    for sql in ("UPDATE cases_documentaccess SET result = 'refused'", "DELETE FROM cases_documentaccess"):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    assert DocumentAccess.objects.get(pk=access.pk).result == "allowed"


def test_admin_shows_access_records_read_only(client, owned_case, subscriber):
    admin_user = UserFactory(email="admin@example.com", is_superuser=True, is_staff=True)
    document = stored_document(owned_case)
    access = DocumentAccess.objects.create(
        action="download", result="refused", reason="expired", user=subscriber, document=document,
        case=owned_case, ip="198.51.100.4", created_at=timezone.now(),
    )  # fmt: skip
    client.force_login(admin_user)
    listing = client.get("/admin/cases/documentaccess/")
    assert listing.status_code == 200 and "198.51.100.4" in listing.content.decode()
    assert client.get("/admin/cases/documentaccess/add/").status_code == 403
    assert client.post(f"/admin/cases/documentaccess/{access.pk}/delete/", {"post": "yes"}).status_code == 403
    detail = client.get(f"/admin/cases/documentaccess/{access.pk}/change/")
    assert detail.status_code == 200 and 'name="reason"' not in detail.content.decode()
    case_page = client.get(f"/admin/cases/case/{owned_case.pk}/change/").content.decode()
    assert "Document accesses (read-only)" in case_page and "198.51.100.4" in case_page
    assert DocumentAccess.objects.count() == 1


def test_demo_pdfs_are_real_documents_of_the_case(make_case):
    case = make_case()
    files = demo_document_files_for(case)
    assert {kind for kind, *_ in files} == {"notice_of_default", "lis_pendens"}
    for _kind, title, data, page_count in files:
        texts = pdf_text(data)
        assert len(texts) == page_count >= 2
        assert case.case_number in title
        assert case.street in " ".join(texts).replace("\n", " ")


def test_stamping_a_200_page_pdf_stays_under_150_mb():
    source = io.BytesIO(make_pdf(200))
    tracemalloc.start()
    try:
        out = watermark.stamp_pdf(source, text="Licensed to a@example.com · 2026-11-22 · JSN")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 150 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"  # bench/documents.py: ~3 MB text, ~45 MB scans
    assert len(pdf_text(out.read())) == 200
