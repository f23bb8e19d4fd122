"""The app's URLs plus the framework floor. Only bench.settings uses this; jsn/urls.py never includes it."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.views.decorators.http import require_GET


@login_not_required
@require_GET
def bare(request: HttpRequest) -> JsonResponse:
    """The floor: the full middleware stack and a small JSON body, no database access, no authentication."""
    return JsonResponse({"ok": True, "items": [1, 2, 3]})


urlpatterns = [
    path("bench/bare", bare, name="bench-bare"),
    path("", include("jsn.urls")),
]
