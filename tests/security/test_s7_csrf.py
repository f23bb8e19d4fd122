"""S7: every URL refuses an unsafe request without a CSRF token from a logged-in browser session.

The walk covers every route the URL resolver knows (like tests/test_login_required.py), sends POST, PUT, PATCH and
DELETE as a logged-in superuser whose browser holds the CSRF cookie but whose request carries no token (what a
forged cross-site form sends), and expects 403 with CSRF named as the reason, before any view runs. A view that
is `csrf_exempt` (or a DRF view that stops enforcing CSRF for session logins) fails here unless it is listed in
EXEMPT with the reason it is safe.
"""

import re
from collections.abc import Iterator

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, path, resolve
from django.urls.exceptions import Resolver404
from django.views.decorators.csrf import csrf_exempt
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from claims.models import Claim
from tests.factories import CaseFactory, UserFactory

pytestmark = pytest.mark.django_db

UNSAFE_METHODS = ("post", "put", "patch", "delete")

# Routes allowed to accept unsafe requests without a CSRF token, each with why. Machine-to-machine endpoints only:
# no browser session is involved, and they authenticate every request themselves.
EXEMPT: dict[str, str] = {
    "stripe/webhook/<uuid:uuid>/": (
        "Stripe's servers call it without cookies; dj-stripe verifies the Stripe-Signature HMAC of every delivery "
        "against the endpoint's secret (W1) and ignores any session."
    ),
    "anymail/postmark/tracking/": (
        "The e-mail provider's servers call it without cookies; anymail requires the ANYMAIL_WEBHOOK_SECRET basic-auth "
        "credentials on every call (401 without), it only moves lead deliveries' tracking status forward, and it "
        "ignores any session (ANYMAIL_ESP picks the provider; tests use Postmark)."
    ),
}

# Routes answered at the same path by a view of ours mounted before them (jsn/urls.py), each with that view's URL
# name: the shadowing view is the one checked.
SHADOWED: dict[str, str] = {
    r"admin/djstripe/\w+/action/<str:action_name>/<str:model_name>/": "djstripe_custom_action_checked",
}


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _named_group(match: re.Match) -> str:
    """A value for a regex group: the first choice of a list of words, else "1" (digits, words, `.+`)."""
    inner = match.group(1)
    return inner.split("|")[0] if re.fullmatch(r"[\w|]+", inner) else "1"


def _concrete(route: str) -> str:
    route = re.sub(r"\(\?P<[^>]+>((?:[^()]|\([^()]*\))*)\)", _named_group, route)
    route = re.sub(r"<int:[^>]+>", "1", route)
    route = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000000", route)
    route = re.sub(r"<[^>]+>", "x", route)
    route = re.sub(r"\(\?:[^)]*\)\??", "", route)
    return "/" + route.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\.", ".")


def csrf_unprotected_routes(client: Client, urlconf: str | None = None) -> list[str]:
    """Every route that does not refuse a token-less unsafe request with a CSRF 403 (EXEMPT entries excepted)."""
    problems = []
    for route, entry in _walk(get_resolver(urlconf)):
        if route in EXEMPT:
            continue
        url = _concrete(route)
        try:
            match = resolve(url, urlconf)
        except Resolver404:
            match = None
        shadowed_by = next((name for pattern, name in SHADOWED.items() if re.fullmatch(pattern, route)), None)
        answered_by_ours = shadowed_by is not None and match is not None and match.view_name == shadowed_by
        if not answered_by_ours and (match is None or match.func is not entry.callback):
            problems.append(f"{route}: {url} does not reach this route's view; teach _concrete() its pattern")
            continue
        for method in UNSAFE_METHODS:
            response = getattr(client, method)(url)
            if response.status_code != 403 or b"CSRF" not in response.content:
                problems.append(f"{method.upper()} {url} ({route}) answered {response.status_code} without a token")
    return problems


@pytest.fixture
def browser(db) -> Client:
    """A superuser's browser: logged in, holding the CSRF cookie, sending no token (a forged cross-site request)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(UserFactory(email="root@example.com", is_superuser=True, is_staff=True))
    assert client.get("/accounts/password/change/").status_code == 200  # renders a form: sets the CSRF cookie
    assert client.cookies.get("csrftoken")
    return client


def test_s7_every_unsafe_request_without_a_token_is_refused(browser):
    routes = list(_walk(get_resolver()))
    assert len(routes) > 100  # the admin's routes included
    problems = csrf_unprotected_routes(browser)
    assert not problems, "\n".join(problems)


def test_exemptions_are_routes_that_exist_and_are_machine_to_machine():
    routes = dict(_walk(get_resolver()))
    for route in EXEMPT:
        assert route in routes, f"EXEMPT names {route}, which no longer exists"
        assert route.startswith(("stripe/", "anymail/")), "only machine-to-machine webhooks may skip CSRF"


def _view(request: HttpRequest) -> HttpResponse:
    return HttpResponse("done")


# A URLconf with one ordinary view and one that someone marked csrf_exempt.
urlpatterns = [
    path("ordinary/", _view, name="ordinary"),
    path("new-exempt-hook/", csrf_exempt(_view), name="new-exempt-hook"),
]


def test_a_new_csrf_exempt_view_is_caught(browser):
    """The walk is not vacuous: a csrf_exempt view is reported, for each method, and the ordinary one is not."""
    with override_settings(ROOT_URLCONF=__name__):
        problems = csrf_unprotected_routes(browser, urlconf=__name__)
    assert problems == [
        f"{method} /new-exempt-hook/ (new-exempt-hook/) answered 200 without a token"
        for method in ("POST", "PUT", "PATCH", "DELETE")
    ]


def test_session_api_calls_need_the_token_and_token_api_calls_do_not(browser, subscriber):
    """A logged-in browser's API call is CSRF-checked (and has no effect without the token); a script's Token call
    carries no ambient credentials, so DRF rightly skips CSRF for it."""
    case = CaseFactory()
    session = Client(enforce_csrf_checks=True)
    session.force_login(subscriber)
    session.get("/accounts/password/change/")
    refused = session.post(f"/api/v3/cases/{case.pk}/claim")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert "CSRF" in refused.json()["detail"]
    assert not Claim.objects.filter(case=case).exists()

    with_token = session.post(f"/api/v3/cases/{case.pk}/claim", HTTP_X_CSRFTOKEN=session.cookies["csrftoken"].value)
    assert with_token.status_code == 201

    other_case = CaseFactory()
    script = APIClient(enforce_csrf_checks=True)
    script.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=subscriber).key}")
    assert script.post(f"/api/v3/cases/{other_case.pk}/claim").status_code == 201
