"""S1: every route (URL resolver and OpenAPI schema) × {owner, other subscriber, anonymous, staff}.

For each role the answer's status must be one the MATRIX allows, never a 5xx, and a non-owner's body must not
contain any masked value of a case built with distinctive values. A route or schema operation without a MATRIX
row fails `test_every_route_has_a_matrix_row` / `test_every_schema_operation_has_a_matrix_row` with the list.

Routes are written in one normalised form, shared by the resolver and the schema: converters and named groups
become `{name}` and regex anchors are dropped, e.g. "api/v3/cases/{case_id}" or "cases/{case_id}/".
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from claims.models import Claim
from tests.factories import UserFactory, secrets_of
from tests.security.documents_helpers import body_of, stored_document, token_of
from tests.security.leaks import leaked

ROLES = ("owner", "other", "anonymous", "staff")
NON_OWNERS = ("other", "anonymous")


def expect(owner: set[int], other: set[int], anonymous: set[int], staff: set[int]) -> dict[str, set[int]]:
    return {"owner": owner, "other": other, "anonymous": anonymous, "staff": staff}


OK = {200}
TO_LOGIN = {302}  # the login-required middleware sends anonymous visitors to the login page
API_AUTH = {401}  # with `WWW-Authenticate: Token`
PAGE = expect(OK, OK, TO_LOGIN, OK)
API_READ = expect(OK, OK, API_AUTH, OK)
# POST-only routes answer a GET with 405 (the method is refused, nothing happens).
POST_ONLY_PAGE = expect({405}, {405}, TO_LOGIN, {405})
POST_ONLY_API = expect({405}, {405}, API_AUTH, {405})
PUBLIC = expect(OK, OK, OK, OK)
# allauth decides per flow page: a logged-in user is often redirected away, a bad key is a 200 "invalid" page.
ALLAUTH = expect({200, 302, 404}, {200, 302, 404}, {200, 302, 404}, {200, 302, 404})
ALLAUTH_LOGIN = expect({200, 302}, {200, 302}, TO_LOGIN, {200, 302})
# Admin: subscribers are sent to the login; staff without model permissions get 403, with them 200.
ADMIN = expect(TO_LOGIN, TO_LOGIN, TO_LOGIN, {200, 302, 403, 404, 405})  # 405: GET /admin/logout/


@dataclass(frozen=True)
class Row:
    pattern: str  # regex over the normalised route
    get: dict[str, set[int]]
    # Unsafe methods exercised for non-owners only (they must be refused without an effect or a leak).
    # Owners and staff are not sent unsafe requests here: their effects are tested per app.
    post: dict[str, set[int]] = field(default_factory=dict)
    methods: frozenset[str] = frozenset({"get"})  # the methods the schema may publish for this route


# One row per route. Order matters: the first matching row applies.
MATRIX: list[Row] = [
    Row(r"^$", expect({302}, {302}, OK, {302})),  # landing: logged-in users go to their dashboard
    Row(r"^health/$", PUBLIC),
    Row(r"^dashboard/$", PAGE),
    Row(r"^me/terms/$", PAGE),
    # GDPR export: a non-owner's POST downloads *their own* data (checked for leaks like every other answer).
    Row(r"^me/export/$", PAGE, post={"other": OK, "anonymous": TO_LOGIN}),
    Row(r"^api/v3/me/export$", API_READ),
    # Closing needs the password and the word CLOSE: a bare POST is a form error, nothing closes.
    Row(r"^me/close/$", PAGE, post={"other": {400}, "anonymous": TO_LOGIN}),
    # The user's own API token: a bare POST names no action, so it is a form error and no token is made.
    Row(r"^me/api-token/$", PAGE, post={"other": {400}, "anonymous": TO_LOGIN}),
    Row(r"^api/schema/$", PUBLIC),
    Row(r"^api/docs/$", PUBLIC),
    # cases
    Row(r"^cases/$", PAGE),
    Row(r"^cases/\{case_id\}/$", PAGE),
    Row(
        r"^cases/documents/\{document_id\}/link/$",
        POST_ONLY_PAGE,
        post={"other": {403}, "anonymous": TO_LOGIN},
        methods=frozenset({"post"}),
    ),
    # The owner's own link works for them only; anyone else is refused (403) or sent to log in (302).
    Row(r"^cases/documents/download/\{token\}/$", expect(OK, {403}, {302}, {403})),
    Row(r"^api/v3/cases$", API_READ),
    Row(r"^api/v3/cases/\{case_id\}$", API_READ),
    Row(
        r"^api/v3/documents/\{document_id\}/link$",
        POST_ONLY_API,
        post={"other": {403}, "anonymous": API_AUTH},
        methods=frozenset({"post"}),
    ),
    # claims
    Row(r"^claims/$", PAGE),
    Row(r"^claims/(claim|release)/$", POST_ONLY_PAGE, post={"anonymous": TO_LOGIN}, methods=frozenset({"post"})),
    Row(r"^api/v3/claims$", API_READ),
    Row(r"^api/v3/claims/count$", API_READ),
    Row(
        r"^api/v3/cases/\{case_id\}/claim$",
        POST_ONLY_API,
        post={"other": {409}, "anonymous": API_AUTH},  # already claimed by the owner
        methods=frozenset({"post"}),
    ),
    Row(
        r"^api/v3/cases/\{case_id\}/release$",
        POST_ONLY_API,
        post={"other": {403, 404, 409}, "anonymous": API_AUTH},  # not theirs to release
        methods=frozenset({"post"}),
    ),
    Row(
        r"^api/v3/cases/(claim|release)$",
        POST_ONLY_API,
        post={"other": {400}, "anonymous": API_AUTH},  # an empty body is invalid
        methods=frozenset({"post"}),
    ),
    # leads
    Row(r"^leads/$", PAGE),
    Row(r"^leads/received/$", PAGE),
    # Pay with Stripe: the caller's own pending PLZs only; without Stripe keys (as here) it redirects to /leads/.
    Row(r"^leads/pay/$", POST_ONLY_PAGE, post={"other": {302}, "anonymous": TO_LOGIN}, methods=frozenset({"post"})),
    # "Manage or cancel in Stripe": the caller's own portal; without Stripe keys (as here) it redirects to /leads/.
    Row(r"^leads/portal/$", POST_ONLY_PAGE, post={"other": {302}, "anonymous": TO_LOGIN}, methods=frozenset({"post"})),
    # Withdraw a PLZ request: the caller's own pending ones only; anything else is refused with a message (302).
    Row(
        r"^leads/\{subscription_id\}/withdraw/$",
        POST_ONLY_PAGE,
        post={"other": {302}, "anonymous": TO_LOGIN},
        methods=frozenset({"post"}),
    ),
    Row(r"^leads/download/\{token\}/$", expect({403, 404, 410}, {403, 404, 410}, {302, 403}, {403, 404, 410})),
    Row(r"^api/v3/leads/(subscriptions|deliveries)$", API_READ),
    # billing: invoices are the viewer's own (no invoice exists here, so a detail is 404 for everyone)
    Row(r"^billing/$", PAGE),
    # Card / portal act on the caller's own account only; without Stripe keys (as here) they redirect to /billing/.
    Row(
        r"^billing/(card|portal)/$",
        POST_ONLY_PAGE,
        post={"other": {302}, "anonymous": TO_LOGIN},
        methods=frozenset({"post"}),
    ),
    Row(r"^billing/invoices/\{invoice_id\}/(pdf)?$", expect({404}, {404}, TO_LOGIN, {404})),
    Row(r"^api/v3/billing/(invoices|summary|pricing)$", API_READ),
    Row(r"^api/v3/billing/invoices/\{invoice_id\}$", expect({404}, {404}, API_AUTH, {404})),
    Row(
        r"^api/v3/admin/billing/generate-daily$",
        expect({403}, {403}, API_AUTH, {405}),  # the staff-only permission is checked before the method
        post={"other": {403}, "anonymous": API_AUTH},  # staff only
        methods=frozenset({"post"}),
    ),
    # Admin API (issue 8): staff only, and each operation also needs the Django permission the admin asks for the
    # same thing; the matrix's staff user has none, so 403 (with them: tests/billing, tests/claims, tests/accounts).
    # The permission check comes before the method, so a GET on a POST-only route is 403 too.
    Row(r"^api/v3/admin/(billing/invoices|claims)$", expect({403}, {403}, API_AUTH, {403})),
    Row(
        r"^api/v3/admin/billing/invoices/\{invoice_id\}/mark-paid$",
        expect({403}, {403}, API_AUTH, {403}),
        post={"other": {403}, "anonymous": API_AUTH},
        methods=frozenset({"post"}),
    ),
    Row(
        r"^api/v3/admin/users/\{user_id\}/(release-all-claims|set-claim-limit|toggle-billing)$",
        expect({403}, {403}, API_AUTH, {403}),
        post={"other": {403}, "anonymous": API_AUTH},
        methods=frozenset({"post"}),
    ),
    # The back office's read-only staff API (backoffice/api_urls.py): subscribers 403, anonymous 401.
    Row(
        r"^api/v3/admin/(billing/summary|claims/stats|system/health)$",
        expect({403}, {403}, API_AUTH, OK),
        post={"other": {403}, "anonymous": API_AUTH},  # refused before the method is even looked at
    ),
    # Stripe's webhook: signed by Stripe, not a session; an unknown endpoint id is 4xx for everyone.
    Row(r"^stripe/webhook/\{uuid\}/$", expect({400, 404, 405}, {400, 404, 405}, {400, 404, 405}, {400, 404, 405})),
    # The mail provider's tracking webhook (machine to machine): POST only, HTTP basic auth, no session. Without
    # the credentials it is 401 for everyone, a logged-in session included.
    Row(
        r"^anymail/\w+/tracking/$",
        expect({405}, {405}, {405}, {405}),
        post={"other": {401}, "anonymous": {401}},
        methods=frozenset({"post"}),
    ),
    # allauth
    Row(r"^accounts/login/$", ALLAUTH),
    Row(r"^accounts/(email|password/change|password/set)/$", ALLAUTH_LOGIN),
    Row(r"^accounts/", ALLAUTH),
    # dj-stripe's action confirmation, behind billing/djstripe_admin.py (a staff GET was a 500 in dj-stripe 2.11).
    Row(r"^admin/djstripe/[\w{}]+/action/", ADMIN),
    # Control rooms replacing the billing and claims app indexes (issue 8): subscribers are sent to the admin login
    # (which answers them 403), staff without the app's view permission get 403. POSTs change nothing for them.
    Row(
        r"^admin/(billing|claims)/(export/)?$",
        expect(TO_LOGIN, TO_LOGIN, TO_LOGIN, {403}),
        post={"other": TO_LOGIN, "anonymous": TO_LOGIN},
    ),
    # Audit timelines: staff without the audit sources' view permissions (the matrix's staff) get 403; with them,
    # 200 (tests/audit/test_timelines.py). Subscribers go to the login like on every admin page.
    Row(r"^admin/audit/(case/\{case_id\}|user/\{user_id\})/$", expect(TO_LOGIN, TO_LOGIN, TO_LOGIN, {403})),
    Row(r"^admin/login/$", expect({302, 403}, {302, 403}, TO_LOGIN, {200, 302, 403})),  # the site login decides
    Row(r"^admin/", ADMIN),
    Row(r"^static/", PUBLIC),
]


def _walk(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def normalise(route: str) -> str:
    route = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route)
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", route)
    route = route.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\.", ".").replace("\\", "")
    return route.lstrip("/")


RESOLVER_ROUTES = sorted({normalise(route) for route in _walk(get_resolver())})


def row_for(route: str) -> Row | None:
    return next((row for row in MATRIX if re.search(row.pattern, route)), None)


def test_every_route_has_a_matrix_row():
    missing = [route for route in RESOLVER_ROUTES if row_for(route) is None]
    assert not missing, f"Routes without an S1 MATRIX row in {__file__} — add one per route: {missing}"


@pytest.mark.django_db
def test_every_schema_operation_has_a_matrix_row(client):
    schema = _schema(client)
    problems = []
    for path, operations in schema["paths"].items():
        route = normalise(path)
        row = row_for(route)
        if row is None:
            problems.append(f"{path}: no MATRIX row")
            continue
        for method in operations:
            if method in ("get", "post", "put", "patch", "delete") and method not in row.methods:
                problems.append(f"{method.upper()} {path}: not declared in its MATRIX row")
    assert not problems, f"OpenAPI operations without an S1 MATRIX entry in {__file__}: {problems}"


def _schema(client: Client) -> dict:
    response = client.get("/api/schema/", {"format": "json"}, HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


@pytest.fixture
def world(make_case, subscriber, other_subscriber, staff_user):
    """An owned case and an unclaimed case, each with distinctive secrets and a document naming them."""
    owned = make_case(assigned_to=subscriber, assigned_at=timezone.now())
    unclaimed = make_case()
    Claim.objects.create(case=owned, user=subscriber, claimed_at=timezone.now(), score_at_claim=75, daily_price_cents=5)
    documents = {}
    for case in (owned, unclaimed):
        contact = case.contacts.get()
        documents[case.pk] = stored_document(case, title=f"Lis pendens against {contact.name} at {case.street}")
    # A view that raises is reported as a 500 failure for its route, not as an error of the whole test.
    clients = {"anonymous": Client(raise_request_exception=False)}
    for role, user in (("owner", subscriber), ("other", other_subscriber), ("staff", staff_user)):
        clients[role] = Client(raise_request_exception=False)
        clients[role].force_login(user)
    link = clients["owner"].post(f"/api/v3/documents/{documents[owned.pk].pk}/link").json()["url"]
    return {
        "owned": owned,
        "unclaimed": unclaimed,
        "document": documents[owned.pk],
        "token": token_of(link),
        "clients": clients,
    }


def concrete(route: str, world: dict) -> str:
    values = {
        "case_id": world["owned"].pk,
        "user_id": world["owned"].assigned_to_id,
        "document_id": world["document"].pk,
        "token": world["token"] if route.startswith("cases/documents/download/") else "not-a-token",
        "uuid": "00000000-0000-0000-0000-000000000000",
        "object_id": world["owned"].pk,
        "app_label": "cases",
        "model_name": "case",
    }
    djstripe_action = re.match(r"admin/djstripe/([\w{}]+)/action/", route)
    if djstripe_action:  # dj-stripe's admin action view needs a model of its own and a real action
        model = djstripe_action.group(1)
        model = "customer" if model.startswith("{") else model
        values.update(admin_model=model, model_name=model, action_name="_sync_all_instances")
    url = re.sub(r"\{(\w+)\}", lambda m: str(values.get(m.group(1), "1")), route)
    url = re.sub(r"\(\?:[^)]*\)\??", "", url)
    return "/" + url


@pytest.mark.django_db
def test_every_route_for_every_role_answers_as_specified_and_leaks_nothing(world, settings):
    settings.DOCUMENT_RATE_LIMIT_PER_HOUR = 10_000
    owned_secrets = secrets_of(world["owned"])
    unclaimed_secrets = secrets_of(world["unclaimed"])
    failures: list[str] = []
    checked = 0
    routes = list(RESOLVER_ROUTES)
    schema_routes = {normalise(path) for path in _schema(world["clients"]["staff"])["paths"]}
    routes += sorted(schema_routes - set(routes))  # a schema path with no resolver route would show up here
    for route in routes:
        row = row_for(route)
        if row is None:
            continue  # reported by test_every_route_has_a_matrix_row
        url = concrete(route, world)
        requests = [("get", role, row.get[role]) for role in ROLES]
        requests += [("post", role, statuses) for role, statuses in row.post.items()]
        for method, role, allowed in requests:
            response = getattr(world["clients"][role], method)(url)
            checked += 1
            status = response.status_code
            if status >= 500 or status not in allowed:
                failures.append(f"{method.upper()} {url} as {role}: {status}, expected {sorted(allowed)}")
            if role == "staff":
                continue  # staff see everything
            body = body_of(response).decode("utf-8", "replace")
            secrets = unclaimed_secrets + (owned_secrets if role in NON_OWNERS else [])
            found = leaked(body, secrets)
            if found:
                failures.append(f"{method.upper()} {url} as {role}: leaked {found}")
    assert checked > 4 * len(RESOLVER_ROUTES) - 1
    assert not failures, "\n".join(failures)


def test_matrix_rows_name_every_role():
    for row in MATRIX:
        assert set(row.get) == set(ROLES), row.pattern
        assert set(row.post) <= set(NON_OWNERS), row.pattern


@pytest.mark.django_db
def test_the_owner_really_sees_the_secrets_the_matrix_hides(world):
    """Guard against a vacuous pass: the same pages do carry the secrets for the owner."""
    owner = world["clients"]["owner"]
    body = owner.get(f"/cases/{world['owned'].pk}/").content.decode()
    assert world["owned"].street in body
    assert world["owned"].case_number in owner.get(f"/api/v3/cases/{world['owned'].pk}").content.decode()
    other = UserFactory(email="third@example.com")
    third = Client()
    third.force_login(other)
    assert world["owned"].street not in third.get(f"/cases/{world['owned'].pk}/").content.decode()
