from collections.abc import Callable

from django.contrib import messages
from django.contrib.admin import helpers
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponseRedirect
from django.http.response import HttpResponseBase
from django.shortcuts import render

from jsn.lib.api import BIGINT_MAX
from jsn.lib.control_room import BAD_SELECTION


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Every page needs a login unless its view is marked `login_not_required`.

    The API is the exception: DRF authenticates sessions *and* tokens and answers 401/403 as JSON,
    which a redirect to the login page would hide. Its default permission is IsAuthenticated.
    """

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class PrivateNoStoreMiddleware:
    """Pages and API answers for a logged-in user are never stored by browsers or shared caches.

    They may carry unmasked data the user owns *now*: after a release, the back button or a proxy must not show
    it again. Views that set their own Cache-Control (static files, health) keep it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        personal = (user is not None and user.is_authenticated) or request.path_info.startswith("/api/")
        if personal and not response.has_header("Cache-Control"):
            response["Cache-Control"] = "private, no-store"
        return response


class MethodNotAllowedPageMiddleware:
    """A page, not Django's empty body, when a person opens a form's target in the address bar (405).

    `require_POST` and class-based views answer a GET on a POST-only address with 405 and nothing else, which a
    browser shows as its own "This page isn't working". The API keeps DRF's JSON answer.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if response.status_code != 405 or request.path_info.startswith("/api/") or getattr(response, "content", b""):
            return response
        page = render(request, "405.html", {"allowed": response.get("Allow", "")}, status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page


class AdminSelectionMiddleware:
    """A changelist action posted with a selection that is not a list of the model's primary keys: a message on
    the list and nothing done, instead of the 500 Django's admin answers (it filters `pk__in` with the raw values).

    Browsers send the checkboxes' values; a hand-made or truncated request may not. Every admin of the site, ours
    and the packages' (dj-stripe, Celery Beat, allauth), is covered.
    """

    MESSAGE = BAD_SELECTION

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(self, request: HttpRequest, view_func, view_args, view_kwargs) -> HttpResponseBase | None:
        model_admin = getattr(view_func, "model_admin", None)  # set by ModelAdmin.get_urls on each of its views
        match = request.resolver_match
        if request.method != "POST" or model_admin is None or not (match and match.url_name.endswith("_changelist")):
            return None
        pk = model_admin.model._meta.pk
        try:
            for value in request.POST.getlist(helpers.ACTION_CHECKBOX_NAME):
                key = pk.to_python(value)  # ValidationError for "abc", "1.5", ""
                if isinstance(key, int) and abs(key) > BIGINT_MAX:  # PostgreSQL would refuse it: a 500 too
                    raise ValidationError("out of range")
        except ValidationError:
            messages.error(request, self.MESSAGE)
            return HttpResponseRedirect(request.get_full_path())
        return None
