import sys

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.cache import never_cache

from cases.models import Case
from cases.selectors import owned_cases
from jsn.lib import health as health_checks
from jsn.lib.unavailable import database_unavailable_response, is_database_unavailable, wants_json

API_NOT_FOUND = "No such API endpoint."


@login_not_required
def landing(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("dashboard")
    return render(request, "landing.html")


def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        # The same cases as the list's "Open to claim" filter the card links to.
        "open_cases": Case.objects.filter(Case.claimable_now_q()).count(),
        "my_cases": owned_cases(Case.objects.all(), user=user).count(),
        "top_cases": Case.objects.filter(Case.claimable_now_q())
        .only("id", "state", "county", "city", "score", "stage", "auction_date")
        .order_by("-score", "id")[:5],
    }
    return render(request, "dashboard.html", context)


@login_not_required
@never_cache
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database answers, 503 when it does not; cache and Beat are reported. Public, so it names no
    workers or integrations: the staff API /api/v3/admin/system/health reports those."""
    database = health_checks.check_database()
    cache_check = health_checks.check_cache()
    checks: dict[str, str] = {"database": database.status, "cache": cache_check.status}
    try:
        tick = health_checks.last_heartbeat()
        checks["last_heartbeat"] = tick.isoformat() if tick else "never"
    except Exception:  # noqa: BLE001
        checks["last_heartbeat"] = "unknown"
    ok = database.status == health_checks.OK
    return JsonResponse({"status": "ok" if ok else "error", **checks}, status=200 if ok else 503)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while the unhandled exception is still being handled, so it can tell a database
    outage (503 with Retry-After, jsn/lib/unavailable.py) from a bug (500). API paths get JSON either way."""
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    if wants_json(request):
        return JsonResponse({"code": "server_error", "detail": "Something went wrong on our side."}, status=500)
    return defaults.server_error(request)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: API clients get the API's `{code, detail}` JSON (e.g. for /api/v3/cases/abc), people the page."""
    if request.path_info.startswith("/api/"):
        return JsonResponse({"code": "not_found", "detail": API_NOT_FOUND}, status=404)
    return defaults.page_not_found(request, exception)
