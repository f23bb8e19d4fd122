"""Signed, expiring, per-user document downloads with an access log, a watermark and per-user rate limits.

A link carries the user's id and the document's id, signed (readable, not secret) with a timestamp. Nothing is
trusted at use except the signature: ownership is checked again, so a release or reassignment kills links
already issued. Every attempt, allowed or refused, writes one DocumentAccess row. The token is never logged:
callers answer refusals with responses marked as logged (see `quiet`), and nothing here prints it.
"""

import logging
import mimetypes
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import FileResponse, HttpResponseBase
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from cases import masking, watermark
from cases.models import Case, Document, DocumentAccess
from jsn.lib.ratelimit import rate_limit_hit

logger = logging.getLogger(__name__)

LINK_MAX_AGE = timedelta(hours=1)
LINK_SALT = "cases.documents.download-link"
PDF = "application/pdf"

ERR_NOT_OWNER = "Only the case's owner can download its documents. Claim the case to unlock them."
ERR_CONTACT_DATA_WITHHELD = "Documents name the case's contacts, which the support role may not see without access."
ERR_OTHER_USER = "This download link was issued to another account."
ERR_EXPIRED = "This download link has expired. Ask for a new one from the case page."
ERR_BAD_LINK = "This download link is not valid."
ERR_NOT_FOUND = "No such document."
ERR_NO_FILE = "This document has no stored file yet."
ERR_NOT_LOGGED_IN = "Log in to download documents."
ERR_RATE_LIMITED = "Too many document requests. Try again later."
ERR_UNREADABLE = "The document could not be prepared for download."


class DocumentRefused(Exception):
    """An attempt refused (already logged). status/code are what the HTTP adapters answer."""

    def __init__(self, *, status: int, code: str, detail: str, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class DocumentLink:
    path: str
    expires_at: datetime


def quiet(response: HttpResponseBase) -> HttpResponseBase:
    """Mark a response as logged, so django.request does not log its path (which carries a token)."""
    response._has_been_logged = True  # type: ignore[attr-defined]
    return response


def _log(
    *,
    action: str,
    reason: str,
    user: Any,
    document: Document | None = None,
    case_id: int | None = None,
    ip: str | None,
) -> None:
    allowed = reason == DocumentAccess.Reason.OK
    DocumentAccess.objects.create(
        action=action,
        result=DocumentAccess.Result.ALLOWED if allowed else DocumentAccess.Result.REFUSED,
        reason=reason,
        user=user if getattr(user, "pk", None) else None,
        document=document,
        case_id=document.case_id if document is not None else case_id,
        ip=ip or None,
        created_at=timezone.now(),
    )


def _rate_limit(*, user: User, action: str) -> int | None:
    """Count one attempt in this user's hourly window; return seconds to wait when over the limit."""
    limit = int(getattr(settings, "DOCUMENT_RATE_LIMIT_PER_HOUR", 60))
    return rate_limit_hit(scope=f"docs:{action}", user_id=user.pk, limit=limit)


def _refuse(
    *,
    action: str,
    reason: str,
    status: int,
    detail: str,
    user: Any,
    ip: str | None,
    document: Document | None = None,
    case_id: int | None = None,
    retry_after: int | None = None,
) -> DocumentRefused:
    _log(action=action, reason=reason, user=user, document=document, case_id=case_id, ip=ip)
    return DocumentRefused(status=status, code=reason, detail=detail, retry_after=retry_after)


def _not_visible(user: Any, case: Case) -> tuple[str, str] | None:
    """Why user may not have case's documents (reason, detail), or None when they may."""
    if not masking.viewer_sees_sensitive(user, case):
        return DocumentAccess.Reason.NOT_OWNER, ERR_NOT_OWNER
    if not masking.viewer_sees_contacts(user, case):
        return DocumentAccess.Reason.CONTACT_DATA_WITHHELD, ERR_CONTACT_DATA_WITHHELD
    return None


def document_link_create(*, user: User, document: Document, ip: str | None = None) -> DocumentLink:
    """A download link for user and document, valid for LINK_MAX_AGE. Raises DocumentRefused (logged)."""
    action = DocumentAccess.Action.LINK
    retry_after = _rate_limit(user=user, action=action)
    if retry_after is not None:
        raise _refuse(
            action=action,
            reason=DocumentAccess.Reason.RATE_LIMITED,
            status=429,
            detail=ERR_RATE_LIMITED,
            user=user,
            ip=ip,
            document=document,
            retry_after=retry_after,
        )
    case = Case.objects.only("id", "assigned_to_id").get(pk=document.case_id)
    refusal = _not_visible(user, case)
    if refusal is not None:
        raise _refuse(
            action=action, reason=refusal[0], status=403, detail=refusal[1], user=user, ip=ip, document=document
        )
    _log(action=action, reason=DocumentAccess.Reason.OK, user=user, document=document, ip=ip)
    token = signing.dumps({"u": user.pk, "d": document.pk}, salt=LINK_SALT)
    return DocumentLink(
        path=reverse("document_download", kwargs={"token": token}), expires_at=timezone.now() + LINK_MAX_AGE
    )


def _read_token(token: str) -> tuple[dict | None, bool]:
    """(payload, expired). payload is None when the signature is bad; expired links still name their document."""
    try:
        return signing.loads(token, salt=LINK_SALT, max_age=LINK_MAX_AGE), False
    except signing.SignatureExpired:
        # The signature is genuine, only old: read it without the age check to log which document it named.
        return signing.loads(token, salt=LINK_SALT), True
    except signing.BadSignature:
        return None, False


def _download_filename(document: Document) -> str:
    """Chosen by the server from ids and the kind only: titles may carry masked values."""
    extension = ".pdf" if document.content_type == PDF else mimetypes.guess_extension(document.content_type) or ""
    if not extension and document.file:
        suffix = document.file.name.rsplit(".", 1)
        extension = f".{suffix[1][:8]}" if len(suffix) == 2 and suffix[1].isalnum() else ""
    return f"jsn-case-{document.case_id}-{document.kind.replace('_', '-')}-{document.pk}{extension}"


def document_download(*, user: Any, token: str, ip: str | None) -> FileResponse:
    """Check the link and the user's ownership now, log the attempt, and stream the (watermarked) file.

    Raises DocumentRefused (already logged) when the attempt is refused.
    """
    action = DocumentAccess.Action.DOWNLOAD
    payload, expired = _read_token(token)
    document_id = payload.get("d") if isinstance(payload, dict) else None
    document = (
        Document.objects.select_related("case").filter(pk=document_id).first() if isinstance(document_id, int) else None
    )
    refuse = {"action": action, "user": user, "ip": ip, "document": document}
    if not getattr(user, "is_authenticated", False):
        raise _refuse(reason=DocumentAccess.Reason.NOT_LOGGED_IN, status=403, detail=ERR_NOT_LOGGED_IN, **refuse)
    retry_after = _rate_limit(user=user, action=action)
    if retry_after is not None:
        raise _refuse(
            reason=DocumentAccess.Reason.RATE_LIMITED,
            status=429,
            detail=ERR_RATE_LIMITED,
            retry_after=retry_after,
            **refuse,
        )
    if payload is None or not isinstance(payload, dict) or not isinstance(payload.get("u"), int):
        raise _refuse(reason=DocumentAccess.Reason.BAD_SIGNATURE, status=404, detail=ERR_BAD_LINK, **refuse)
    if expired:
        raise _refuse(reason=DocumentAccess.Reason.EXPIRED, status=410, detail=ERR_EXPIRED, **refuse)
    if payload["u"] != user.pk:
        raise _refuse(reason=DocumentAccess.Reason.OTHER_USER, status=403, detail=ERR_OTHER_USER, **refuse)
    if document is None:
        raise _refuse(reason=DocumentAccess.Reason.NOT_FOUND, status=404, detail=ERR_NOT_FOUND, **refuse)
    # The ownership check at use: the case row as it is now, not as it was when the link was made.
    refusal = _not_visible(user, document.case)
    if refusal is not None:
        raise _refuse(reason=refusal[0], status=403, detail=refusal[1], **refuse)
    if not document.file:
        raise _refuse(reason=DocumentAccess.Reason.NO_FILE, status=404, detail=ERR_NO_FILE, **refuse)
    try:
        source = document.file.storage.open(document.file.name, "rb")
    except FileNotFoundError:
        raise _refuse(reason=DocumentAccess.Reason.NO_FILE, status=404, detail=ERR_NO_FILE, **refuse) from None
    if document.content_type == PDF:
        text = watermark.watermark_text(email=user.email, on=timezone.localdate())
        try:
            with source:
                body = watermark.stamp_pdf(source, text=text)
        except watermark.WatermarkError:
            logger.warning("Watermarking failed for document #%s", document.pk)
            # Never fall back to the unstamped file.
            raise _refuse(
                reason=DocumentAccess.Reason.UNREADABLE, status=500, detail=ERR_UNREADABLE, **refuse
            ) from None
    else:
        body = source
    _log(action=action, reason=DocumentAccess.Reason.OK, user=user, document=document, ip=ip)
    response = FileResponse(
        body, as_attachment=True, filename=_download_filename(document), content_type=document.content_type
    )
    return secure_headers(response)


def secure_headers(response: HttpResponseBase) -> HttpResponseBase:
    """No cache may keep it; no page it links to learns the URL (which carries the token)."""
    response["Cache-Control"] = "private, no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Content-Type-Options"] = "nosniff"
    return response
