"""A database that cannot be reached answers 503 with Retry-After: `{"code": "database_unavailable", ...}` from the
API, a short HTML page elsewhere; never a 500 or a traceback.

PostgreSQL restarting, failing over or refusing connections surfaces in Django as OperationalError or
InterfaceError, raised wherever the first query of a request happens: in a view, in DRF's token authentication, in
the session lookup of a middleware. DRF's exception handler (jsn.lib.api) covers API views; `handler500`
(jsn.views.server_error) covers everything else, because Django calls it while that exception is being handled.
Persistent connections come back by themselves: CONN_HEALTH_CHECKS makes the next request test its connection
and reconnect, so no restart of the app is needed (RELIABILITY.md R1, tests/stress/test_r1_postgres_restart.py).
"""

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

DATABASE_UNAVAILABLE = "database_unavailable"
DATABASE_UNAVAILABLE_DETAIL = "The database is unavailable for a moment. Please try again shortly."
RETRY_AFTER_SECONDS = 5


def is_database_unavailable(exc: BaseException | None) -> bool:
    """True for Django's wrappers of "cannot talk to the database right now" errors."""
    return isinstance(exc, OperationalError | InterfaceError)


def wants_json(request: HttpRequest) -> bool:
    return request.path_info.startswith("/api/") or "application/json" in request.headers.get("Accept", "")


def unavailable_headers() -> dict[str, str]:
    return {"Retry-After": str(RETRY_AFTER_SECONDS), "Cache-Control": "no-store"}


def database_unavailable_response(request: HttpRequest) -> HttpResponse:
    if wants_json(request):
        response: HttpResponse = JsonResponse(
            {"code": DATABASE_UNAVAILABLE, "detail": DATABASE_UNAVAILABLE_DETAIL}, status=503
        )
    else:
        # Rendered without the request: context processors (the user, the claim count) would query the database.
        html = render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS})
        response = HttpResponse(html, status=503, content_type="text/html; charset=utf-8")
    for name, value in unavailable_headers().items():
        response[name] = value
    return response
