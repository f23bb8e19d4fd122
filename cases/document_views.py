"""HTML adapters for documents: the owner's "Download" button and the signed download link itself."""

import contextlib

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import AnonymousUser
from django.http import Http404, HttpRequest, HttpResponseBase, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from rest_framework import exceptions

from cases.documents import DocumentRefused, document_download, document_link_create, quiet, secure_headers
from cases.models import Document
from jsn.lib.auth import TokenAuthentication


def client_ip(request: HttpRequest) -> str | None:
    # REMOTE_ADDR only: X-Forwarded-For is set by the client unless a trusted proxy rewrites it.
    return request.META.get("REMOTE_ADDR") or None


def _refused(request: HttpRequest, refusal: DocumentRefused) -> HttpResponseBase:
    response = render(
        request,
        "documents/refused.html",
        {"detail": refusal.detail, "retry_after": refusal.retry_after},
        status=refusal.status,
    )
    if refusal.retry_after is not None:
        response["Retry-After"] = str(refusal.retry_after)
    return quiet(secure_headers(response))


@require_POST
def document_link(request: HttpRequest, document_id: int) -> HttpResponseBase:
    """Create a link for the logged-in owner and send the browser straight to it (the file downloads)."""
    document = Document.objects.filter(pk=document_id).only("id", "case_id").first()
    if document is None:
        raise Http404("No such document.")
    try:
        link = document_link_create(user=request.user, document=document, ip=client_ip(request))
    except DocumentRefused as refusal:
        return _refused(request, refusal)
    return secure_headers(redirect(link.path))


# Anonymous attempts are refused (and logged) here, without putting the token into a login URL's ?next=.
@login_not_required
def download(request: HttpRequest, token: str) -> HttpResponseBase:
    # Not @require_GET: its 405 is logged with the path, and the path carries the token.
    if request.method not in ("GET", "HEAD"):
        return quiet(secure_headers(HttpResponseNotAllowed(["GET", "HEAD"])))
    user = request.user
    if request.META.get("HTTP_AUTHORIZATION"):
        # A script that made the link through the API with its token downloads it with the same header; the header
        # wins over a session cookie, as on the API.
        try:
            authenticated = TokenAuthentication().authenticate(request)
        except exceptions.AuthenticationFailed as exc:
            with contextlib.suppress(DocumentRefused):
                document_download(user=AnonymousUser(), token=token, ip=client_ip(request))  # refuses and logs
            refusal = DocumentRefused(status=401, code="authentication_failed", detail=str(exc.detail))
            response = _refused(request, refusal)
            response["WWW-Authenticate"] = TokenAuthentication().authenticate_header(request)
            return response
        if authenticated is not None:
            user = authenticated[0]
    if not user.is_authenticated:
        with contextlib.suppress(DocumentRefused):
            document_download(user=user, token=token, ip=client_ip(request))  # refuses and logs
        return quiet(secure_headers(redirect("account_login")))
    try:
        return quiet(document_download(user=user, token=token, ip=client_ip(request)))
    except DocumentRefused as refusal:
        return _refused(request, refusal)
