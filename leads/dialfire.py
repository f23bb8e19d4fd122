"""Dialfire: poll a campaign for new contacts with a lead PDF, page by page, keeping a cursor.

The HTTP shape (see tests/fakes/dialfire.py, which serves the same):
    GET {base}/api/campaigns/{campaign}/contacts?cursor=<c>&limit=<n>   (Authorization: Bearer <token>)
        → {"contacts": [{"id": "...", "pdf_url": "/files/…", "updated": "..."}], "next_cursor": "…", "has_more": bool}
    GET {base}{pdf_url}  → the PDF bytes
Dialfire being down or refusing the token is recorded on the ImportSource row and logged; it never raises out of
`dialfire_import`. The cursor advances only after every contact of a page is stored, so a crash re-reads the page
(imports are idempotent by contact id and content hash).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urljoin, urlparse

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from leads.models import ImportSource
from leads.services import PdfIn, leads_import_many

logger = logging.getLogger(__name__)

PAGE_SIZE = 50
MAX_PAGES_PER_RUN = 40
MAX_PDF_BYTES = 20 * 1024 * 1024
TIMEOUT = (5, 30)  # connect, read (seconds)

IMPORT_OFF = "The Dialfire import is off (DIALFIRE_BASE_URL is not set)."
ERR_NOT_CONFIGURED = "Dialfire is not configured (DIALFIRE_BASE_URL, DIALFIRE_TOKEN, DIALFIRE_CAMPAIGN_ID)."
ERR_AUTH = "Dialfire refused the token (HTTP {status}). Check DIALFIRE_TOKEN."
ERR_DOWN = "Dialfire is unreachable or failing: {error}"
ERR_BAD_ANSWER = "Dialfire answered something unexpected: {error}"
ERR_FOREIGN_URL = "A PDF link points outside Dialfire ({host}); not followed."


class DialfireError(Exception):
    pass


class DialfireAuthError(DialfireError):
    pass


@dataclass(frozen=True)
class Contact:
    id: str
    pdf_url: str


@dataclass(frozen=True)
class Page:
    contacts: list[Contact]
    next_cursor: str
    has_more: bool


class DialfireClient:
    def __init__(self, *, base_url: str, token: str, campaign_id: str, session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/") + "/"
        self.token = token
        self.campaign_id = campaign_id
        self.session = session or requests.Session()

    @classmethod
    def from_settings(cls) -> "DialfireClient":
        if not (settings.DIALFIRE_BASE_URL and settings.DIALFIRE_TOKEN and settings.DIALFIRE_CAMPAIGN_ID):
            raise DialfireError(ERR_NOT_CONFIGURED)
        return cls(
            base_url=settings.DIALFIRE_BASE_URL,
            token=settings.DIALFIRE_TOKEN,
            campaign_id=settings.DIALFIRE_CAMPAIGN_ID,
        )

    def _get(self, url: str, **params: object) -> requests.Response:
        try:
            response = self.session.get(
                url, params=params or None, headers={"Authorization": f"Bearer {self.token}"}, timeout=TIMEOUT
            )
        except requests.RequestException as exc:
            raise DialfireError(ERR_DOWN.format(error=type(exc).__name__)) from None
        if response.status_code in (401, 403):
            raise DialfireAuthError(ERR_AUTH.format(status=response.status_code))
        if response.status_code >= 400:
            raise DialfireError(ERR_DOWN.format(error=f"HTTP {response.status_code}"))
        return response

    def contacts_page(self, *, cursor: str, limit: int | None = None) -> Page:
        limit = limit or PAGE_SIZE
        url = urljoin(self.base_url, f"api/campaigns/{self.campaign_id}/contacts")
        response = self._get(url, cursor=cursor, limit=limit)
        try:
            data = response.json()
            contacts = [
                Contact(id=str(c["id"]), pdf_url=str(c["pdf_url"])) for c in data["contacts"] if c.get("pdf_url")
            ]
            return Page(
                contacts=contacts, next_cursor=str(data.get("next_cursor") or cursor), has_more=bool(data["has_more"])
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise DialfireError(ERR_BAD_ANSWER.format(error=f"{type(exc).__name__}: {exc}")) from None

    def download(self, pdf_url: str) -> bytes:
        url = urljoin(self.base_url, pdf_url)
        base, target = urlparse(self.base_url), urlparse(url)
        # The token goes only to Dialfire's own host: never follow a link elsewhere.
        if (target.scheme, target.netloc) != (base.scheme, base.netloc):
            raise DialfireError(ERR_FOREIGN_URL.format(host=target.netloc))
        content = self._get(url).content
        if len(content) > MAX_PDF_BYTES:
            raise DialfireError(ERR_BAD_ANSWER.format(error=f"PDF larger than {MAX_PDF_BYTES} bytes"))
        return content


@dataclass
class ImportReport:
    pages: int = 0
    seen: int = 0
    created: int = 0
    duplicates: int = 0
    error: str = ""
    skipped: str = ""  # why nothing was tried: the import is off (DIALFIRE_BASE_URL empty)
    lead_ids: list[int] = field(default_factory=list)


def dialfire_import(*, client: DialfireClient | None = None, now: datetime | None = None) -> ImportReport:
    """Import every new Dialfire contact with a PDF. Records health; never raises for Dialfire's failures.

    With DIALFIRE_BASE_URL empty the import is off on purpose (leads arrive by upload only): the run does nothing
    and says so, and it is not a failure. A base URL without its token or campaign is a misconfiguration: that run
    fails like any other Dialfire failure."""
    if client is None and not settings.DIALFIRE_BASE_URL:
        return ImportReport(skipped=IMPORT_OFF)
    now = now or timezone.now()
    source, _ = ImportSource.objects.get_or_create(name=ImportSource.DIALFIRE)
    ImportSource.objects.filter(pk=source.pk).update(last_poll_at=now)
    report = ImportReport()
    try:
        client = client or DialfireClient.from_settings()
        cursor = source.cursor
        for _ in range(MAX_PAGES_PER_RUN):
            page = client.contacts_page(cursor=cursor)
            report.pages += 1
            created_before = report.created
            items = [
                PdfIn(content=client.download(c.pdf_url), filename=f"dialfire-{c.id}.pdf", dialfire_id=c.id)
                for c in page.contacts
            ]
            for result in leads_import_many(items=items) if items else []:
                report.seen += 1
                report.created += result.created
                report.duplicates += not result.created
                report.lead_ids.append(result.lead.pk)
            cursor = page.next_cursor
            ImportSource.objects.filter(pk=source.pk).update(
                cursor=cursor, imported_total=F("imported_total") + (report.created - created_before)
            )
            if not page.has_more:
                break
    except DialfireError as exc:
        report.error = str(exc)
        ImportSource.objects.filter(pk=source.pk).update(
            last_error=report.error[:500], last_error_at=now, consecutive_failures=F("consecutive_failures") + 1
        )
        logger.warning("Dialfire import failed: %s", report.error)
        return report
    ImportSource.objects.filter(pk=source.pk).update(last_success_at=now, consecutive_failures=0)
    return report
