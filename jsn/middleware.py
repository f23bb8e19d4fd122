from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.http import HttpRequest
from django.http.response import HttpResponseBase


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
        from django.shortcuts import render

        page = render(request, "405.html", {"allowed": response.get("Allow", "")}, status=405)
        if response.has_header("Allow"):
            page["Allow"] = response["Allow"]
        return page
