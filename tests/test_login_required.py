"""Every URL has a decision: public, or login required. A new URL without a decision fails here."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# (route regex, decision). Routes are matched against the joined route text, e.g. "cases/<int:case_id>/".
DECISIONS: list[tuple[str, str]] = [
    (r"^$", "public"),  # landing page
    (r"^health/$", "public"),
    (r"^api/schema/$", "public"),  # the published OpenAPI schema
    (r"^api/docs/$", "public"),
    (r"^static/", "public"),
    # allauth: the pages a logged-out person needs are public; account management needs a login.
    (r"^accounts/(login|signup|logout|reauthenticate)/$", "public"),
    (r"^accounts/password/reset/", "public"),
    (r"^accounts/confirm-email/", "public"),
    (r"^accounts/login/code/", "public"),
    (r"^accounts/3rdparty/", "login"),
    (r"^accounts/(password/change|password/set|email)/$", "login"),
    (r"^accounts/", "public"),  # any other allauth flow page: allauth decides per view (checked below)
    (r"^admin/(billing|claims)/(export/)?$", "login"),  # the control rooms (staff only, checked in the S1 matrix)
    (r"^admin/audit/(case|user)/", "login"),  # audit timelines: staff with the sources' view permissions
    (r"^admin/", "login"),
    (r"^api/v3/admin/(billing/invoices|claims$|users/)", "login"),  # the admin API's writes and lists (S1 matrix)
    (r"^api/v3/admin/(billing/summary|claims/stats|system/health)$", "login"),  # and staff only (S1 matrix)
    (r"^api/v3/", "login"),
    (r"^(dashboard|cases|claims|billing|leads|me)/", "login"),
    (r"^stripe/", "public"),  # Stripe's webhook: authenticated by its signature, not a session
    (r"^anymail/\w+/tracking/$", "public"),  # the mail provider's tracking webhook: HTTP basic auth, not a session
]


def _walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route, entry


def _concrete(route: str) -> str:
    route = re.sub(r"<int:[^>]+>", "1", route)
    route = re.sub(r"<uuid:[^>]+>", "00000000-0000-0000-0000-000000000000", route)
    route = re.sub(r"<[^>]+>", "x", route)
    route = route.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\.", ".")
    route = re.sub(r"\(\?P<[^>]+>[^)]*\)", "1", route)
    route = re.sub(r"\(\?:[^)]*\)\??", "", route)
    return "/" + route


def _decision(route: str) -> str | None:
    clean = route.replace("^", "")
    for pattern, decision in DECISIONS:
        if re.search(pattern, clean):
            return decision
    return None


ALL_ROUTES = sorted({route for route, _ in _walk(get_resolver())})


def test_every_url_has_a_decision():
    undecided = [route for route in ALL_ROUTES if _decision(route) is None]
    assert not undecided, f"URLs without a public/login decision in {__file__}: {undecided}"


@pytest.mark.django_db
@pytest.mark.parametrize("route", [r for r in ALL_ROUTES if _decision(r) == "login"])
def test_login_required_urls_refuse_anonymous(client, route):
    url = _concrete(route)
    response = client.get(url, follow=True)
    if url.startswith("/api/"):
        assert response.status_code == 401, url
        return
    final = response.redirect_chain[-1][0] if response.redirect_chain else ""
    assert response.status_code in (200, 404, 405) and "/accounts/login/" in final, (url, response.redirect_chain)
    # Posting is refused too (never a 500, never an effect).
    assert client.post(url).status_code in (302, 403, 405), url


@pytest.mark.django_db
def test_admin_uses_the_site_login(client):
    response = client.get("/admin/", follow=True)
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


@pytest.mark.django_db
def test_subscriber_gets_403_from_the_admin_not_a_redirect_loop(client, subscriber):
    client.force_login(subscriber)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert len(response.redirect_chain) <= 1
