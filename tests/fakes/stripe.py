"""FakeStripe: a stateful Stripe API in the test process, plugged in at the HTTP boundary.

stripe-python 15 sends every request through `requests` (its default `RequestsClient`), so registering this fake
with the `responses` library answers JSN's calls *and* dj-stripe's (re-fetches, `GET /v1/account`, …). Nothing
reaches the network: `responses` refuses any request that no callback matches.

Semantics kept from Stripe (see ../shared/docs/STRIPE.md):
- Idempotency: a POST's `Idempotency-Key` with the same endpoint and body replays the first stored answer
  (including a 500 or a 402); the same key with another body or endpoint answers 400 `idempotency_error`.
  Validation errors (400) are not stored, as at Stripe. `expire_idempotency_keys()` simulates the 24 h window.
- Invoice items created with `invoice=` join that draft; without it they stay pending on the customer.
- Finalize moves draft → open (zero totals → paid); pay charges the default payment method once; a declining
  card answers 402 `card_error` and leaves the invoice open with `attempt_count` raised. `paid_out_of_band=true`
  settles an open or uncollectible invoice without a charge (a draft is refused: finalize it first); the amount
  shows as `amount_paid_off_stripe` when that is expanded. Void takes open or uncollectible invoices; only drafts
  can be deleted. `collect_automatically()` plays Stripe's automatic collection (auto_advance) once.
- Events are recorded for state changes and retrievable at `GET /v1/events/<id>`; `signed_webhook()` builds a
  delivery with a real `Stripe-Signature` header.

Failure injection (`inject`): `server_error` (500, stored under the idempotency key as Stripe does),
`connection_drop` (the request never reaches Stripe), `crash_after_success` (Stripe applies and stores the write,
then the client sees a dropped connection) and `card_declined` (the next payment attempt is declined). A slow
Stripe (`hold`): matching requests wait, before Stripe handles them, until the hold is released.

Use the `fake_stripe` fixture; it also sets test keys in settings and makes the SDK's retry back-off instant.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import responses

API_BASE = "https://api.stripe.com"
API_VERSION = "2026-05-27.dahlia"
TEST_SECRET_KEY = "sk_test_fakestripe0000000000000000"
ACCOUNT_ID = "acct_1FakeJsnAccount"
MIN_CHARGE = {"usd": 50, "eur": 50}  # Stripe's minimum charge amounts, in cents

INJECTION_KINDS = ("server_error", "connection_drop", "crash_after_success", "card_declined")


class FakeStripeError(Exception):
    """An API error answer (status + Stripe error object)."""

    def __init__(self, status: int, type_: str, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": type_, "message": message, **({"code": code} if code else {}), **extra}}


def _missing(kind: str, id_: str, param: str = "id") -> FakeStripeError:
    return FakeStripeError(
        404, "invalid_request_error", f"No such {kind}: '{id_}'", code="resource_missing", param=param
    )


def _invalid(message: str, *, param: str | None = None, code: str | None = None) -> FakeStripeError:
    extra = {"param": param} if param else {}
    return FakeStripeError(400, "invalid_request_error", message, code=code, **extra)


@dataclass
class LoggedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    stripe_version: str | None
    status: int | None = None
    replayed: bool = False
    injected: str | None = None
    response: dict[str, Any] | None = None


@dataclass
class Injection:
    kind: str
    method: str
    path: re.Pattern[str]
    times: int | None  # None: until cleared

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and bool(self.path.fullmatch(path))


@dataclass
class Hold:
    """Requests matching method and path wait here until `release()` (at most `timeout` seconds)."""

    method: str
    path: re.Pattern[str]
    timeout: float = 30.0
    entered: threading.Event = field(default_factory=threading.Event)  # a request is waiting
    released: threading.Event = field(default_factory=threading.Event)

    def matches(self, method: str, path: str) -> bool:
        return self.method == method and bool(self.path.fullmatch(path))

    def release(self) -> None:
        self.released.set()


@dataclass
class _Stored:
    fingerprint: str
    status: int
    body: dict[str, Any]


def parse_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Decode stripe-python's form encoding (`a[b][0][c]=x`) into nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        parts = re.findall(r"[^\[\]]+", raw_key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def listify(node: Any) -> Any:
        if isinstance(node, dict):
            node = {k: listify(v) for k, v in node.items()}
            if node and all(k.isdigit() for k in node):
                return [node[k] for k in sorted(node, key=int)]
        return node

    return listify(root)


def _bool(value: Any, default: bool = False) -> bool:
    if value is None:
        return default
    return str(value).lower() == "true"


def _int(value: Any) -> int | None:
    return None if value in (None, "") else int(value)


@dataclass
class FakeStripe:
    api_version: str = API_VERSION
    now: Callable[[], int] = field(default=lambda: int(time.time()))
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    log: list[LoggedRequest] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    injections: list[Injection] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    declining_payment_methods: set[str] = field(default_factory=set)
    automatic_attempts: list[str] = field(default_factory=list)  # invoice ids, see collect_automatically()
    _idempotency: dict[str, _Stored] = field(default_factory=dict)
    _counter: itertools.count = field(default_factory=lambda: itertools.count(1))
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def __post_init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., dict[str, Any]]]] = []
        route = self._route
        route("GET", r"/v1/account", self._account_retrieve)
        route("POST", r"/v1/customers", self._customer_create)
        route("GET", r"/v1/customers", self._customer_list)
        route("GET", r"/v1/customers/(?P<id>cus_\w+)", self._customer_retrieve)
        route("POST", r"/v1/customers/(?P<id>cus_\w+)", self._customer_update)
        route("GET", r"/v1/customers/(?P<id>cus_\w+)/payment_methods", self._customer_payment_methods)
        route("GET", r"/v1/payment_methods", self._payment_method_list)
        route("GET", r"/v1/payment_methods/(?P<id>pm_\w+)", self._retrieve("payment_method"))
        route("POST", r"/v1/payment_methods/(?P<id>pm_\w+)/attach", self._payment_method_attach)
        route("POST", r"/v1/payment_methods/(?P<id>pm_\w+)/detach", self._payment_method_detach)
        route("GET", r"/v1/setup_intents/(?P<id>seti_\w+)", self._retrieve("setup_intent"))
        route("POST", r"/v1/checkout/sessions", self._checkout_session_create)
        route("GET", r"/v1/checkout/sessions/(?P<id>cs_\w+)", self._retrieve("checkout.session"))
        route("GET", r"/v1/checkout/sessions/(?P<id>cs_\w+)/line_items", self._checkout_line_items)
        route("POST", r"/v1/checkout/sessions/(?P<id>cs_\w+)/expire", self._checkout_session_expire)
        route("POST", r"/v1/billing_portal/sessions", self._portal_session_create)
        route("POST", r"/v1/invoiceitems", self._invoice_item_create)
        route("GET", r"/v1/invoiceitems", self._invoice_item_list)
        route("GET", r"/v1/invoiceitems/(?P<id>ii_\w+)", self._retrieve("invoiceitem"))
        route("POST", r"/v1/invoices", self._invoice_create)
        route("GET", r"/v1/invoices", self._invoice_list)
        route("GET", r"/v1/invoices/search", self._invoice_search)
        route("GET", r"/v1/invoices/(?P<id>in_\w+)", self._retrieve("invoice"))
        route("DELETE", r"/v1/invoices/(?P<id>in_\w+)", self._invoice_delete)
        route("GET", r"/v1/invoices/(?P<id>in_\w+)/lines", self._invoice_lines)
        route("POST", r"/v1/invoices/(?P<id>in_\w+)/finalize", self._invoice_finalize)
        route("POST", r"/v1/invoices/(?P<id>in_\w+)/pay", self._invoice_pay)
        route("POST", r"/v1/invoices/(?P<id>in_\w+)/void", self._invoice_void)
        route("POST", r"/v1/invoices/(?P<id>in_\w+)/mark_uncollectible", self._invoice_mark_uncollectible)
        route("GET", r"/v1/subscriptions", self._subscription_list)
        route("GET", r"/v1/subscriptions/(?P<id>sub_\w+)", self._retrieve("subscription"))
        route("DELETE", r"/v1/subscriptions/(?P<id>sub_\w+)", self._subscription_cancel)
        route("GET", r"/v1/subscription_items/(?P<id>si_\w+)", self._retrieve("subscription_item"))
        route("GET", r"/v1/prices/(?P<id>price_\w+)", self._retrieve("price"))
        route("GET", r"/v1/products/(?P<id>prod_\w+)", self._retrieve("product"))
        route("GET", r"/v1/events/(?P<id>evt_\w+)", self._retrieve("event"))
        route("GET", r"/v1/events", self._event_list)
        route("POST", r"/v1/webhook_endpoints", self._webhook_endpoint_create)
        route("GET", r"/v1/webhook_endpoints/(?P<id>we_\w+)", self._webhook_endpoint_retrieve)
        self.account = self._store(
            {
                "id": ACCOUNT_ID,
                "object": "account",
                "business_profile": {"name": "JSN (test)", "url": "https://jsn.example"},
                "business_type": "company",
                "capabilities": {"card_payments": "active"},
                "charges_enabled": True,
                "country": "US",
                "created": self.now(),
                "default_currency": "usd",
                "details_submitted": True,
                "email": "ops@jsn.example",
                "metadata": {},
                "payouts_enabled": True,
                "settings": {"dashboard": {"display_name": "JSN", "timezone": "Etc/UTC"}},
                "type": "standard",
            }
        )

    # ---------------------------------------------------------------------------- plumbing
    def _route(self, method: str, pattern: str, handler: Callable[..., dict[str, Any]]) -> None:
        self._routes.append((method, re.compile(pattern), handler))

    def install(self, rsps: responses.RequestsMock) -> None:
        for method in ("GET", "POST", "DELETE"):
            rsps.add_callback(method, re.compile(re.escape(API_BASE) + r"/.*"), callback=self._handle)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}fake"

    def _store(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.objects[obj["id"]] = obj
        return obj

    def get(self, id_: str) -> dict[str, Any]:
        """The stored object (references as ids), for assertions."""
        return self.objects[id_]

    def of_type(self, object_name: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o.get("object") == object_name]

    def requests(self, method: str | None = None, path: str | None = None) -> list[LoggedRequest]:
        """Logged requests, filtered by method and a full-match path regex."""
        return [
            r
            for r in self.log
            if (method is None or r.method == method) and (path is None or re.fullmatch(path, r.path))
        ]

    def inject(self, kind: str, method: str, path: str, *, times: int | None = 1) -> Injection:
        """Make the next `times` matching requests fail as `kind` (None: every one until `clear_injections`)."""
        assert kind in INJECTION_KINDS, kind
        injection = Injection(kind=kind, method=method, path=re.compile(path), times=times)
        with self._lock:
            self.injections.append(injection)
        return injection

    def hold(self, method: str, path: str, *, timeout: float = 30.0) -> Hold:
        """Make matching requests wait (outside the fake's lock: other requests go on) until the hold is released."""
        hold = Hold(method=method, path=re.compile(path), timeout=timeout)
        with self._lock:
            self.holds.append(hold)
        return hold

    def clear_injections(self) -> None:
        with self._lock:
            self.injections.clear()

    def expire_idempotency_keys(self) -> None:
        """Stripe forgets keys after ~24 hours."""
        with self._lock:
            self._idempotency.clear()

    def _take_injection(self, method: str, path: str) -> str | None:
        for injection in self.injections:
            if injection.kind != "card_declined" and injection.matches(method, path):
                if injection.times is not None:
                    injection.times -= 1
                    if injection.times <= 0:
                        self.injections.remove(injection)
                return injection.kind
        return None

    def _take_decline(self) -> bool:
        for injection in self.injections:
            if injection.kind == "card_declined":
                if injection.times is not None:
                    injection.times -= 1
                    if injection.times <= 0:
                        self.injections.remove(injection)
                return True
        return False

    def _handle(self, request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        url = urlsplit(request.url)
        path = url.path
        method = request.method or "GET"
        body = request.body or ""
        if isinstance(body, bytes):
            body = body.decode()
        pairs = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        params = parse_form(pairs)
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        entry = LoggedRequest(method, path, params, key, request.headers.get("Stripe-Version"))
        for hold in [h for h in self.holds if h.matches(method, path)]:
            hold.entered.set()
            hold.released.wait(hold.timeout)
        with self._lock:
            self.log.append(entry)
            if request.headers.get("Authorization") != f"Bearer {TEST_SECRET_KEY}":
                return self._answer(entry, 401, FakeStripeError(401, "invalid_request_error", "Invalid API Key").body)
            injected = self._take_injection(method, path)
            entry.injected = injected
            if injected == "connection_drop":
                raise requests.ConnectionError("FakeStripe: connection dropped before Stripe received the request")
            fingerprint = json.dumps([method, path, sorted(pairs)])
            if key is not None and key in self._idempotency:
                stored = self._idempotency[key]
                if stored.fingerprint != fingerprint:
                    error = _invalid(
                        "Keys for idempotent requests can only be used with the same parameters they were first used "
                        f"with. Try using a key other than '{key}' if you meant to execute a different request."
                    )
                    error.body["error"]["type"] = "idempotency_error"
                    return self._answer(entry, 400, error.body)
                entry.replayed = True
                if injected == "crash_after_success":
                    entry.status = stored.status
                    raise requests.ConnectionError("FakeStripe: connection dropped after Stripe replayed the answer")
                return self._answer(entry, stored.status, stored.body, replayed=True)
            if injected == "server_error":
                status, answer = 500, {"error": {"type": "api_error", "message": "FakeStripe: injected server error"}}
            else:
                status, answer = self._dispatch(method, path, params, key)
            if key is not None and status != 400:
                # Stripe stores what an executed endpoint answered, errors included; failed validation is not stored.
                self._idempotency[key] = _Stored(fingerprint, status, answer)
            if injected == "crash_after_success":
                entry.status = status
                raise requests.ConnectionError("FakeStripe: connection dropped after Stripe applied the request")
            return self._answer(entry, status, answer)

    def _answer(
        self, entry: LoggedRequest, status: int, body: dict[str, Any], *, replayed: bool = False
    ) -> tuple[int, dict[str, str], str]:
        entry.status = status
        entry.response = body
        headers = {"Content-Type": "application/json", "Request-Id": f"req_{len(self.log):06d}"}
        if replayed:
            headers["Idempotent-Replayed"] = "true"
        if entry.idempotency_key:
            headers["Idempotency-Key"] = entry.idempotency_key
        return status, headers, json.dumps(body)

    def _dispatch(self, method: str, path: str, params: dict[str, Any], key: str | None) -> tuple[int, dict]:
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if route_method == method and match:
                self._request_key = key
                try:
                    result = handler(params, **match.groupdict())
                except FakeStripeError as error:
                    return error.status, error.body
                return 200, self.render(result, params.get("expand") or [])
        return 404, _invalid(f"FakeStripe does not implement {method} {path}", code="fake_not_implemented").body

    # ---------------------------------------------------------------------------- rendering
    def render(self, obj: dict[str, Any], expand: list[str] | None = None) -> dict[str, Any]:
        """A deep copy with computed lists filled in and the requested `expand` paths resolved."""
        out = copy.deepcopy(obj)
        if out.pop("_rendered", False):  # handler answers built already rendered (lists, create-with-secret)
            for path in expand or []:
                self._expand(out, path.split("."))
            return out
        if out.get("object") == "invoice":
            lines = [self.render(self.objects[i]) for i in out.pop("_line_ids", [])]
            out["lines"] = self._list(lines, f"/v1/invoices/{out['id']}/lines")
            if "amount_paid_off_stripe" in (expand or []):
                # Computed from payment records: only answered when asked for, never in event payloads (dahlia).
                out["amount_paid_off_stripe"] = out.get("_amount_paid_off_stripe", 0)
        elif out.get("object") == "subscription":
            items = [self.render(self.objects[i]) for i in out.pop("_item_ids", [])]
            out["items"] = self._list(items, f"/v1/subscription_items?subscription={out['id']}")
        elif out.get("object") == "checkout.session":
            line_items = out.pop("_line_items", [])
            if "line_items" in (expand or []):
                out["line_items"] = self._list(line_items, f"/v1/checkout/sessions/{out['id']}/line_items")
        for key_ in [k for k in out if k.startswith("_")]:
            out.pop(key_)
        for path in expand or []:
            self._expand(out, path.split("."))
        return out

    def _expand(self, node: Any, parts: list[str]) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if head == "data" and isinstance(node.get("data"), list):
            for item in node["data"]:
                self._expand(item, rest)
            return
        value = node.get(head)
        if isinstance(value, str) and value in self.objects:
            node[head] = value = self.render(self.objects[value])
        if isinstance(value, list):
            for item in value:
                self._expand(item, rest)
        else:
            self._expand(value, rest)

    @staticmethod
    def _list(data: list[dict[str, Any]], url: str) -> dict[str, Any]:
        return {"object": "list", "data": data, "has_more": False, "url": url}

    def _paginate(self, items: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
        items = sorted(items, key=lambda o: (o.get("created", 0), o["id"]), reverse=True)
        if params.get("starting_after"):
            ids = [o["id"] for o in items]
            items = items[ids.index(params["starting_after"]) + 1 :] if params["starting_after"] in ids else []
        limit = _int(params.get("limit")) or 10
        page = [self.render(o) for o in items[:limit]]
        return {"object": "list", "data": page, "has_more": len(items) > limit, "url": url, "_rendered": True}

    def _retrieve(self, object_name: str) -> Callable[..., dict[str, Any]]:
        def handler(params: dict[str, Any], id: str) -> dict[str, Any]:
            obj = self.objects.get(id)
            if obj is None or obj.get("object") != object_name:
                raise _missing(object_name.split(".")[-1], id)
            return obj

        return handler

    # ---------------------------------------------------------------------------- events and webhooks
    def emit(self, type_: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {"object": self.render(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = self._store(
            {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": self.api_version,
                "created": self.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": f"req_{len(self.log):06d}", "idempotency_key": getattr(self, "_request_key", None)},
                "type": type_,
            }
        )
        self.events.append(event["id"])
        return event

    def last_event(self, type_: str) -> dict[str, Any]:
        return next(self.objects[e] for e in reversed(self.events) if self.objects[e]["type"] == type_)

    @staticmethod
    def sign(payload: str, secret: str, timestamp: int | None = None) -> str:
        """A `Stripe-Signature` header: HMAC-SHA256 keyed with the whole `whsec_…` secret over `<t>.<body>`."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
        return f"t={timestamp},v1={digest}"

    def signed_webhook(self, event: dict[str, Any], secret: str, timestamp: int | None = None) -> tuple[str, str]:
        payload = json.dumps(self.render(event), indent=2)
        return payload, self.sign(payload, secret, timestamp)

    # ---------------------------------------------------------------------------- account, customers
    def _account_retrieve(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.account

    def _customer_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._store(
            {
                "id": self._new_id("cus"),
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": self.now(),
                "currency": None,
                "default_source": None,
                "delinquent": False,
                "description": params.get("description"),
                "discount": None,
                "email": params.get("email"),
                "invoice_prefix": f"JSN{next(self._counter):04d}",
                "invoice_settings": {
                    "custom_fields": None,
                    "default_payment_method": None,
                    "footer": None,
                    "rendering_options": None,
                },
                "livemode": False,
                "metadata": params.get("metadata") or {},
                "name": params.get("name"),
                "next_invoice_sequence": 1,
                "phone": params.get("phone"),
                "preferred_locales": [],
                "shipping": None,
                "tax_exempt": "none",
                "test_clock": None,
            }
        )
        self.emit("customer.created", customer)
        return customer

    def _customer(self, id_: str, param: str = "customer") -> dict[str, Any]:
        customer = self.objects.get(id_ or "")
        if customer is None or customer["object"] != "customer":
            raise _missing("customer", id_, param)
        return customer

    def _customer_retrieve(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        return self._customer(id, "id")

    def _customer_list(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [c for c in self.of_type("customer") if not params.get("email") or c["email"] == params["email"]]
        return self._paginate(found, params, "/v1/customers")

    def _customer_update(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        customer = self._customer(id, "id")
        previous: dict[str, Any] = {}
        for name in ("email", "name", "description", "phone"):
            if name in params:
                previous[name] = customer[name]
                customer[name] = params[name]
        if "metadata" in params:
            previous["metadata"] = dict(customer["metadata"])
            customer["metadata"].update(params["metadata"] or {})
        settings = params.get("invoice_settings") or {}
        if "default_payment_method" in settings:
            pm_id = settings["default_payment_method"] or None
            if pm_id is not None:
                pm = self.objects.get(pm_id)
                if pm is None or pm["object"] != "payment_method":
                    raise _missing("PaymentMethod", pm_id, "invoice_settings[default_payment_method]")
                if pm["customer"] != customer["id"]:
                    raise _invalid(
                        "The customer does not have a payment method with the ID "
                        f"{pm_id}. The payment method must be attached to the customer.",
                        param="invoice_settings[default_payment_method]",
                    )
            previous["invoice_settings"] = copy.deepcopy(customer["invoice_settings"])
            customer["invoice_settings"]["default_payment_method"] = pm_id
        self.emit("customer.updated", customer, previous)
        return customer

    # ---------------------------------------------------------------------------- payment methods
    def payment_method_create(self, *, customer: str | None = None, last4: str = "4242", declines: bool = False):
        pm = self._store(
            {
                "id": self._new_id("pm"),
                "object": "payment_method",
                "allow_redisplay": "always",
                "billing_details": {
                    "address": {
                        "city": None,
                        "country": "US",
                        "line1": None,
                        "line2": None,
                        "postal_code": "10001",
                        "state": None,
                    },
                    "email": None,
                    "name": None,
                    "phone": None,
                    "tax_id": None,
                },
                "card": {
                    "brand": "visa",
                    "checks": {"address_line1_check": None, "address_postal_code_check": "pass", "cvc_check": "pass"},
                    "country": "US",
                    "display_brand": "visa",
                    "exp_month": 12,
                    "exp_year": 2034,
                    "fingerprint": f"fp{last4}fake",
                    "funding": "credit",
                    "generated_from": None,
                    "last4": last4,
                    "networks": {"available": ["visa"], "preferred": None},
                    "regulated_status": "unregulated",
                    "three_d_secure_usage": {"supported": True},
                    "wallet": None,
                },
                "created": self.now(),
                "customer": None,
                "livemode": False,
                "metadata": {},
                "type": "card",
            }
        )
        if declines:
            self.declining_payment_methods.add(pm["id"])
        if customer:
            self._attach(pm, customer)
        return pm

    def _attach(self, pm: dict[str, Any], customer_id: str) -> None:
        self._customer(customer_id)
        pm["customer"] = customer_id
        self.emit("payment_method.attached", pm)

    def _payment_method(self, id_: str) -> dict[str, Any]:
        pm = self.objects.get(id_)
        if pm is None or pm["object"] != "payment_method":
            raise _missing("PaymentMethod", id_)
        return pm

    def _payment_method_attach(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        pm = self._payment_method(id)
        self._attach(pm, params.get("customer", ""))
        return pm

    def _payment_method_detach(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        pm = self._payment_method(id)
        if pm["customer"] is None:
            raise _invalid(f"The payment method {id} is not attached to a customer.")
        customer = self.objects[pm["customer"]]
        if customer["invoice_settings"]["default_payment_method"] == id:
            customer["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        self.emit("payment_method.detached", pm)
        return pm

    def _payment_methods_of(self, customer_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        type_ = params.get("type")
        return [
            pm
            for pm in self.of_type("payment_method")
            if pm["customer"] == customer_id and (type_ in (None, "", pm["type"]))
        ]

    def _customer_payment_methods(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        self._customer(id, "id")
        return self._paginate(self._payment_methods_of(id, params), params, f"/v1/customers/{id}/payment_methods")

    def _payment_method_list(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = params.get("customer", "")
        self._customer(customer)
        return self._paginate(self._payment_methods_of(customer, params), params, "/v1/payment_methods")

    # ---------------------------------------------------------------------------- prices and products
    def price_create(self, *, unit_amount: int = 2900, currency: str = "usd", interval: str = "month") -> dict:
        product = self._store(
            {
                "id": self._new_id("prod"),
                "object": "product",
                "active": True,
                "created": self.now(),
                "default_price": None,
                "description": "Leads for one PLZ",
                "images": [],
                "livemode": False,
                "marketing_features": [],
                "metadata": {},
                "name": "PLZ subscription",
                "package_dimensions": None,
                "shippable": None,
                "statement_descriptor": None,
                "tax_code": None,
                "type": "service",
                "unit_label": None,
                "updated": self.now(),
                "url": None,
            }
        )
        price = self._store(
            {
                "id": self._new_id("price"),
                "object": "price",
                "active": True,
                "billing_scheme": "per_unit",
                "created": self.now(),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": product["id"],
                "recurring": {
                    "interval": interval,
                    "interval_count": 1,
                    "meter": None,
                    "trial_period_days": None,
                    "usage_type": "licensed",
                },
                "tax_behavior": "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "recurring",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(unit_amount),
            }
        )
        product["default_price"] = price["id"]
        return price

    # ---------------------------------------------------------------------------- checkout and portal
    def _checkout_session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        mode = params.get("mode")
        if mode not in ("setup", "subscription", "payment"):
            raise _invalid("Missing required param: mode.", param="mode", code="parameter_missing")
        if not params.get("success_url"):
            raise _invalid("Missing required param: success_url.", param="success_url", code="parameter_missing")
        if params.get("customer"):
            self._customer(params["customer"])
        line_items = []
        amount = 0
        currency = params.get("currency")
        for i, item in enumerate(params.get("line_items") or []):
            price = self.objects.get(item.get("price", ""))
            if price is None or price["object"] != "price":
                raise _missing("price", item.get("price", ""), f"line_items[{i}][price]")
            if mode == "subscription" and price["type"] != "recurring":
                raise _invalid("Subscription mode needs recurring prices.", param=f"line_items[{i}][price]")
            quantity = int(item.get("quantity") or 1)
            amount += price["unit_amount"] * quantity
            currency = price["currency"]
            line_items.append(
                {
                    "id": self._new_id("li"),
                    "object": "item",
                    "amount_discount": 0,
                    "amount_subtotal": price["unit_amount"] * quantity,
                    "amount_tax": 0,
                    "amount_total": price["unit_amount"] * quantity,
                    "currency": price["currency"],
                    "description": self.objects[price["product"]]["name"],
                    "price": copy.deepcopy(price),
                    "quantity": quantity,
                }
            )
        if mode in ("subscription", "payment") and not line_items:
            raise _invalid("line_items is required in this mode.", param="line_items", code="parameter_missing")
        if mode == "setup" and not (currency or params.get("payment_method_types")):
            raise _invalid("currency or payment_method_types is required in setup mode.", param="currency")
        session_id = f"cs_test_{next(self._counter):06d}fake"
        return self._store(
            {
                "id": session_id,
                "object": "checkout.session",
                "amount_subtotal": amount if mode != "setup" else None,
                "amount_total": amount if mode != "setup" else None,
                "cancel_url": params.get("cancel_url"),
                "client_reference_id": params.get("client_reference_id"),
                "created": self.now(),
                "currency": currency,
                "customer": params.get("customer"),
                "customer_email": params.get("customer_email"),
                "expires_at": self.now() + 24 * 3600,
                "livemode": False,
                "locale": None,
                "metadata": params.get("metadata") or {},
                "mode": mode,
                "payment_intent": None,
                "payment_method_types": params.get("payment_method_types") or ["card"],
                "payment_status": "no_payment_required" if mode == "setup" else "unpaid",
                "setup_intent": None,
                "status": "open",
                "subscription": None,
                "success_url": params.get("success_url"),
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
                "_line_items": line_items,
                "_subscription_data": params.get("subscription_data") or {},
            }
        )

    def _checkout_line_items(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        session = self._retrieve("checkout.session")(params, id)
        return {**self._list(session["_line_items"], f"/v1/checkout/sessions/{id}/line_items"), "_rendered": True}

    def _checkout_session_expire(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        session = self._retrieve("checkout.session")(params, id)
        if session["status"] != "open":
            raise _invalid('Only Checkout Sessions with a status in ["open"] can be expired.')
        session.update(status="expired", url=None)
        self.emit("checkout.session.expired", session)
        return session

    def checkout_complete(self, session_id: str, *, declines: bool = False) -> dict[str, Any]:
        """The subscriber finishes Checkout: card saved (setup) or subscription started. Returns the event."""
        with self._lock:
            session = self.objects[session_id]
            assert session["status"] == "open", session["status"]
            customer_id = session["customer"]
            pm = self.payment_method_create(customer=customer_id, declines=declines)
            if session["mode"] == "setup":
                intent = self._store(
                    {
                        "id": self._new_id("seti"),
                        "object": "setup_intent",
                        "application": None,
                        "cancellation_reason": None,
                        "client_secret": "seti_secret_fake",
                        "created": self.now(),
                        "customer": customer_id,
                        "description": None,
                        "flow_directions": None,
                        "last_setup_error": None,
                        "latest_attempt": None,
                        "livemode": False,
                        "mandate": None,
                        "metadata": {},
                        "next_action": None,
                        "on_behalf_of": None,
                        "payment_method": pm["id"],
                        "payment_method_types": ["card"],
                        "single_use_mandate": None,
                        "status": "succeeded",
                        "usage": "off_session",
                    }
                )
                session["setup_intent"] = intent["id"]
                self.emit("setup_intent.succeeded", intent)
            elif session["mode"] == "subscription":
                subscription = self._subscription_create(
                    customer_id, pm["id"], session["_line_items"], session["_subscription_data"].get("metadata") or {}
                )
                session["subscription"] = subscription["id"]
                session["payment_status"] = "paid"
            session["status"] = "complete"
            return self.emit("checkout.session.completed", session)

    def _portal_session_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer(params.get("customer", ""))
        session_id = self._new_id("bps")
        return self._store(
            {
                "id": session_id,
                "object": "billing_portal.session",
                "configuration": "bpc_1FakeDefault",
                "created": self.now(),
                "customer": customer["id"],
                "flow": None,
                "livemode": False,
                "locale": None,
                "on_behalf_of": None,
                "return_url": params.get("return_url"),
                "url": f"https://billing.stripe.com/p/session/test_{session_id}",
            }
        )

    # ---------------------------------------------------------------------------- subscriptions
    def _subscription_create(
        self, customer_id: str, pm_id: str, line_items: list[dict[str, Any]], metadata: dict[str, Any]
    ) -> dict[str, Any]:
        now = self.now()
        subscription_id = self._new_id("sub")
        item_ids = []
        for line in line_items:
            item = self._store(
                {
                    "id": self._new_id("si"),
                    "object": "subscription_item",
                    "billing_thresholds": None,
                    "created": now,
                    "current_period_end": now + 30 * 86400,
                    "current_period_start": now,
                    "discounts": [],
                    "metadata": {},
                    "price": copy.deepcopy(line["price"]),
                    "quantity": line["quantity"],
                    "subscription": subscription_id,
                    "tax_rates": [],
                }
            )
            item_ids.append(item["id"])
        subscription = self._store(
            {
                "id": subscription_id,
                "object": "subscription",
                "application": None,
                "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
                "billing_cycle_anchor": now,
                "billing_mode": {"type": "flexible"},
                "cancel_at": None,
                "cancel_at_period_end": False,
                "canceled_at": None,
                "cancellation_details": {"comment": None, "feedback": None, "reason": None},
                "collection_method": "charge_automatically",
                "created": now,
                "currency": line_items[0]["currency"],
                "customer": customer_id,
                "days_until_due": None,
                "default_payment_method": pm_id,
                "description": None,
                "discounts": [],
                "ended_at": None,
                "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
                "latest_invoice": None,
                "livemode": False,
                "metadata": metadata,
                "on_behalf_of": None,
                "pause_collection": None,
                "payment_settings": None,
                "pending_invoice_item_interval": None,
                "pending_setup_intent": None,
                "pending_update": None,
                "schedule": None,
                "start_date": now,
                "status": "active",
                "test_clock": None,
                "trial_end": None,
                "trial_start": None,
                "_item_ids": item_ids,
            }
        )
        self.emit("customer.subscription.created", subscription)
        return subscription

    def subscription_set_status(self, subscription_id: str, status: str) -> dict[str, Any]:
        """Stripe moves a subscription (e.g. to past_due after failed renewals). Returns the event."""
        with self._lock:
            subscription = self.objects[subscription_id]
            previous = {"status": subscription["status"]}
            subscription["status"] = status
            return self.emit("customer.subscription.updated", subscription, previous)

    def _subscription_list(self, params: dict[str, Any]) -> dict[str, Any]:
        status = params.get("status")
        found = [
            s
            for s in self.of_type("subscription")
            if (not params.get("customer") or s["customer"] == params["customer"])
            and (status == "all" or (status and s["status"] == status) or (not status and s["status"] != "canceled"))
        ]
        return self._paginate(found, params, "/v1/subscriptions")

    def _subscription_cancel(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        subscription = self._retrieve("subscription")(params, id)
        if subscription["status"] == "canceled":
            raise _invalid(f"A canceled subscription can only update its cancellation_details. ({id})")
        subscription.update(status="canceled", canceled_at=self.now(), ended_at=self.now())
        self.emit("customer.subscription.deleted", subscription)
        return subscription

    # ---------------------------------------------------------------------------- invoices
    def _invoice(self, id_: str, param: str = "id") -> dict[str, Any]:
        invoice = self.objects.get(id_ or "")
        if invoice is None or invoice["object"] != "invoice":
            raise _missing("invoice", id_, param)
        return invoice

    def _invoice_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer(params.get("customer", ""))
        collection = params.get("collection_method", "charge_automatically")
        now = self.now()
        invoice = self._store(
            {
                "id": self._new_id("in"),
                "object": "invoice",
                "account_country": "US",
                "account_name": "JSN (test)",
                "amount_due": 0,
                "amount_overpaid": 0,
                "amount_paid": 0,
                "amount_remaining": 0,
                "amount_shipping": 0,
                "application": None,
                "attempt_count": 0,
                "attempted": False,
                "auto_advance": _bool(params.get("auto_advance"), default=False),
                "automatic_tax": {
                    "disabled_reason": None,
                    "enabled": False,
                    "liability": None,
                    "provider": None,
                    "status": None,
                },
                "automatically_finalizes_at": None,
                "billing_reason": "manual",
                "collection_method": collection,
                "created": now,
                "currency": params.get("currency") or customer["currency"] or "usd",
                "customer": customer["id"],
                "customer_email": customer["email"],
                "customer_name": customer["name"],
                "default_payment_method": params.get("default_payment_method"),
                "description": params.get("description"),
                "discounts": [],
                "due_date": None,
                "effective_at": None,
                "ending_balance": None,
                "footer": None,
                "hosted_invoice_url": None,
                "invoice_pdf": None,
                "issuer": {"type": "self"},
                "last_finalization_error": None,
                "livemode": False,
                "metadata": params.get("metadata") or {},
                "next_payment_attempt": None,
                "number": None,
                "on_behalf_of": None,
                "parent": None,
                "payment_settings": {
                    "default_mandate": None,
                    "payment_method_options": None,
                    "payment_method_types": None,
                },
                "period_end": now,
                "period_start": now,
                "post_payment_credit_notes_amount": 0,
                "pre_payment_credit_notes_amount": 0,
                "receipt_number": None,
                "starting_balance": customer["balance"],
                "statement_descriptor": None,
                "status": "draft",
                "status_transitions": {
                    "finalized_at": None,
                    "marked_uncollectible_at": None,
                    "paid_at": None,
                    "voided_at": None,
                },
                "subtotal": 0,
                "subtotal_excluding_tax": 0,
                "test_clock": None,
                "total": 0,
                "total_discount_amounts": [],
                "total_excluding_tax": 0,
                "total_taxes": [],
                "webhooks_delivered_at": None,
                "_line_ids": [],
            }
        )
        if params.get("pending_invoice_items_behavior") == "include":
            for item in self.of_type("invoiceitem"):
                if item["customer"] == customer["id"] and item["invoice"] is None:
                    self._add_line(invoice, item)
        self._recompute(invoice)
        self.emit("invoice.created", invoice)
        return invoice

    def _add_line(self, invoice: dict[str, Any], item: dict[str, Any]) -> None:
        item["invoice"] = invoice["id"]
        line = self._store(
            {
                "id": self._new_id("il"),
                "object": "line_item",
                "amount": item["amount"],
                "currency": item["currency"],
                "description": item["description"],
                "discount_amounts": [],
                "discountable": True,
                "discounts": [],
                "invoice": invoice["id"],
                "livemode": False,
                "metadata": dict(item["metadata"]),
                "parent": {
                    "invoice_item_details": {
                        "invoice_item": item["id"],
                        "proration": False,
                        "proration_details": {"credited_items": None},
                        "subscription": None,
                    },
                    "subscription_item_details": None,
                    "type": "invoice_item_details",
                },
                "period": dict(item["period"]),
                "pretax_credit_amounts": [],
                "pricing": copy.deepcopy(item["pricing"]),
                "quantity": item["quantity"],
                "subtotal": item["amount"],
                "taxes": [],
            }
        )
        invoice["_line_ids"].append(line["id"])

    def _recompute(self, invoice: dict[str, Any]) -> None:
        subtotal = sum(self.objects[i]["amount"] for i in invoice["_line_ids"])
        due = max(subtotal + invoice["starting_balance"], 0)
        invoice.update(
            subtotal=subtotal,
            subtotal_excluding_tax=subtotal,
            total=subtotal,
            total_excluding_tax=subtotal,
            amount_due=due,
            amount_remaining=due - invoice["amount_paid"],
        )

    def _invoice_item_create(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self._customer(params.get("customer", ""))
        amount = _int(params.get("amount"))
        if amount is None:
            raise _invalid("Missing required param: amount.", param="amount", code="parameter_missing")
        currency = params.get("currency")
        if not currency:
            raise _invalid("Missing required param: currency.", param="currency", code="parameter_missing")
        invoice = None
        if params.get("invoice"):
            invoice = self._invoice(params["invoice"], "invoice")
            if invoice["customer"] != customer["id"]:
                raise _invalid("The invoice belongs to another customer.", param="invoice")
            if invoice["status"] != "draft":
                raise _invalid(
                    f"You can only add invoice items to draft invoices. {invoice['id']} is {invoice['status']}.",
                    param="invoice",
                    code="invoice_not_editable",
                )
            if invoice["currency"] != currency:
                raise _invalid("The invoice item currency must match the invoice currency.", param="currency")
            if len(invoice["_line_ids"]) >= 250:
                raise _invalid("An invoice can have at most 250 invoice items.", param="invoice")
        now = self.now()
        period = params.get("period") or {}
        item = self._store(
            {
                "id": self._new_id("ii"),
                "object": "invoiceitem",
                "amount": amount,
                "currency": currency,
                "customer": customer["id"],
                "date": now,
                "description": params.get("description"),
                "discountable": True,
                "discounts": [],
                "invoice": None,
                "livemode": False,
                "metadata": params.get("metadata") or {},
                "net_amount": amount,
                "parent": None,
                "period": {"end": _int(period.get("end")) or now, "start": _int(period.get("start")) or now},
                "pricing": {"price_details": None, "type": None, "unit_amount_decimal": str(amount)},
                "proration": False,
                "quantity": 1,
                "tax_rates": [],
                "test_clock": None,
            }
        )
        if invoice is not None:
            self._add_line(invoice, item)
            self._recompute(invoice)
        self.emit("invoiceitem.created", item)
        return item

    def _invoice_item_list(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [
            i
            for i in self.of_type("invoiceitem")
            if (not params.get("customer") or i["customer"] == params["customer"])
            and (not params.get("invoice") or i["invoice"] == params["invoice"])
            and (params.get("pending") is None or (i["invoice"] is None) == _bool(params["pending"]))
        ]
        return self._paginate(found, params, "/v1/invoiceitems")

    def _invoice_list(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [
            i
            for i in self.of_type("invoice")
            if (not params.get("customer") or i["customer"] == params["customer"])
            and (not params.get("status") or i["status"] == params["status"])
        ]
        return self._paginate(found, params, "/v1/invoices")

    def _invoice_search(self, params: dict[str, Any]) -> dict[str, Any]:
        """Supports Stripe's search syntax for `metadata['k']:'v'`, `customer:'cus_…'`, `status:'…'` with AND."""
        query = params.get("query", "")
        clauses = [c.strip() for c in re.split(r"\s+AND\s+", query) if c.strip()]
        if not clauses:
            raise _invalid("Missing required param: query.", param="query", code="parameter_missing")
        checks = []
        for clause in clauses:
            match = re.fullmatch(r"metadata\['([^']+)'\]:'([^']*)'", clause) or re.fullmatch(
                r"(customer|status|currency):'([^']*)'", clause
            )
            if not match:
                raise _invalid(f"FakeStripe cannot parse search clause {clause!r}", param="query")
            checks.append((clause.startswith("metadata"), match.group(1), match.group(2)))
        found = [
            i
            for i in self.of_type("invoice")
            if all((i["metadata"].get(k) if is_meta else i.get(k)) == v for is_meta, k, v in checks)
        ]
        page = self._paginate(found, params, "/v1/invoices/search")
        return {**page, "object": "search_result", "next_page": None, "total_count": len(found)}

    def _invoice_lines(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        invoice = self._invoice(id)
        lines = [self.objects[i] for i in invoice["_line_ids"]]
        return {**self._list([self.render(x) for x in lines], f"/v1/invoices/{id}/lines"), "_rendered": True}

    def _invoice_finalize(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        invoice = self._invoice(id)
        if invoice["status"] != "draft":
            raise _invalid(f"This invoice is already finalized ({invoice['status']}).", code="invoice_not_editable")
        self._finalize(invoice, params)
        return invoice

    def _finalize(self, invoice: dict[str, Any], params: dict[str, Any]) -> None:
        now = self.now()
        customer = self.objects[invoice["customer"]]
        if "auto_advance" in params:
            invoice["auto_advance"] = _bool(params["auto_advance"])
        invoice.update(
            status="open",
            number=f"{customer['invoice_prefix']}-{customer['next_invoice_sequence']:04d}",
            effective_at=now,
            hosted_invoice_url=f"https://invoice.stripe.com/i/{invoice['id']}",
            invoice_pdf=f"https://pay.stripe.com/invoice/{invoice['id']}/pdf",
            ending_balance=invoice["starting_balance"],
        )
        customer["next_invoice_sequence"] += 1
        invoice["status_transitions"]["finalized_at"] = now
        self.emit("invoice.finalized", invoice)
        if invoice["amount_due"] == 0:
            self._mark_paid(invoice)

    def _mark_paid(self, invoice: dict[str, Any]) -> None:
        invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0, next_payment_attempt=None)
        invoice["status_transitions"]["paid_at"] = self.now()
        self.emit("invoice.paid", invoice)
        self.emit("invoice.payment_succeeded", invoice)

    def _invoice_pay(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        invoice = self._invoice(id)
        if invoice["status"] == "paid":
            raise _invalid("Invoice is already paid", code="invoice_already_paid")
        if invoice["status"] == "void":
            raise _invalid("This invoice has been voided and can no longer be paid.")
        if _bool(params.get("paid_out_of_band")):
            if invoice["status"] == "draft":
                raise _invalid(
                    f"You can only mark an open or uncollectible invoice as paid out of band; {id} is a draft. "
                    "Finalize it first."
                )
            self._mark_paid_out_of_band(invoice)
            return invoice
        if invoice["status"] == "draft":
            self._finalize(invoice, {})
            if invoice["status"] == "paid":
                return invoice
        self._charge(invoice, params)
        return invoice

    def _mark_paid_out_of_band(self, invoice: dict[str, Any]) -> None:
        """Paid outside Stripe: no charge, no attempt; the amount is recorded as paid off Stripe."""
        remaining = invoice["amount_remaining"]
        invoice.update(
            status="paid",
            amount_paid=invoice["amount_paid"] + remaining,
            amount_remaining=0,
            next_payment_attempt=None,
            _amount_paid_off_stripe=invoice.get("_amount_paid_off_stripe", 0) + remaining,
        )
        invoice["status_transitions"]["paid_at"] = self.now()
        self.emit("invoice.paid", invoice)

    def collect_automatically(self) -> list[str]:
        """Stripe's automatic collection: every open `charge_automatically` invoice with `auto_advance` on gets a
        payment attempt, as Stripe makes about an hour after finalization and on each Smart Retry. Returns the ids
        attempted (also appended to `automatic_attempts`); declines leave the invoice open, as at Stripe."""
        with self._lock:
            attempted = []
            for invoice in self.of_type("invoice"):
                if not (
                    invoice["status"] == "open"
                    and invoice["auto_advance"]
                    and invoice["collection_method"] == "charge_automatically"
                ):
                    continue
                attempted.append(invoice["id"])
                with contextlib.suppress(FakeStripeError):  # a decline leaves it open, as at Stripe
                    self._charge(invoice, {})
            self.automatic_attempts.extend(attempted)
            return attempted

    def _charge(self, invoice: dict[str, Any], params: dict[str, Any]) -> None:
        """One payment attempt on an open invoice with the customer's card (or the balance, below the minimum)."""
        customer = self.objects[invoice["customer"]]
        amount = invoice["amount_due"]
        minimum = MIN_CHARGE.get(invoice["currency"], 50)
        if 0 < amount < minimum:
            # Below the minimum charge Stripe marks the invoice paid and carries the amount to the balance.
            customer["balance"] += amount
            invoice["ending_balance"] = customer["balance"]
            invoice.update(amount_paid=0, amount_remaining=0, status="paid", next_payment_attempt=None)
            invoice["status_transitions"]["paid_at"] = self.now()
            self.emit("invoice.paid", invoice)
            return
        pm_id = (
            params.get("payment_method")
            or invoice["default_payment_method"]
            or customer["invoice_settings"]["default_payment_method"]
        )
        if not pm_id:
            raise _invalid(
                "This customer has no attached payment source or default payment method.",
                code="invoice_no_payment_method",
            )
        invoice["attempt_count"] += 1
        invoice["attempted"] = True
        if pm_id in self.declining_payment_methods or self._take_decline():
            invoice["next_payment_attempt"] = self.now() + 3 * 86400 if invoice["auto_advance"] else None
            self.emit("invoice.payment_failed", invoice)
            raise FakeStripeError(
                402,
                "card_error",
                "Your card was declined.",
                code="card_declined",
                decline_code="generic_decline",
                param="",
            )
        self._mark_paid(invoice)

    def _invoice_void(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        invoice = self._invoice(id)
        if invoice["status"] not in ("open", "uncollectible"):
            raise _invalid(f"You can only void open or uncollectible invoices ({invoice['status']}).")
        invoice.update(status="void", amount_remaining=0, next_payment_attempt=None)
        invoice["status_transitions"]["voided_at"] = self.now()
        self.emit("invoice.voided", invoice)
        return invoice

    def _invoice_delete(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        """Only drafts can be deleted, and then they are gone (a later GET answers 404)."""
        invoice = self._invoice(id)
        if invoice["status"] != "draft":
            raise _invalid(f"You can only delete draft invoices; {id} is {invoice['status']}. Void it instead.")
        self.emit("invoice.deleted", invoice)
        for line_id in invoice["_line_ids"]:
            item_id = self.objects[line_id]["parent"]["invoice_item_details"]["invoice_item"]
            self.objects.pop(item_id, None)  # a deleted draft takes its invoice items with it
            self.objects.pop(line_id, None)
        del self.objects[id]
        return {"id": id, "object": "invoice", "deleted": True, "_rendered": True}

    def _invoice_mark_uncollectible(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        invoice = self._invoice(id)
        if invoice["status"] != "open":
            raise _invalid(f"You can only mark open invoices uncollectible ({invoice['status']}).")
        invoice.update(status="uncollectible", next_payment_attempt=None)
        invoice["status_transitions"]["marked_uncollectible_at"] = self.now()
        self.emit("invoice.marked_uncollectible", invoice)
        return invoice

    # ---------------------------------------------------------------------------- events and endpoints
    def _event_list(self, params: dict[str, Any]) -> dict[str, Any]:
        found = [
            self.objects[e] for e in self.events if not params.get("type") or self.objects[e]["type"] == params["type"]
        ]
        return self._paginate(found, params, "/v1/events")

    def _webhook_endpoint_create(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("url"):
            raise _invalid("Missing required param: url.", param="url", code="parameter_missing")
        if not params.get("enabled_events"):
            raise _invalid("Missing required param: enabled_events.", param="enabled_events", code="parameter_missing")
        endpoint = self._store(
            {
                "id": self._new_id("we"),
                "object": "webhook_endpoint",
                "api_version": params.get("api_version") or None,
                "application": None,
                "created": self.now(),
                "description": params.get("description"),
                "enabled_events": params["enabled_events"],
                "livemode": False,
                "metadata": params.get("metadata") or {},
                "status": "enabled",
                "url": params["url"],
                "_secret": f"whsec_fake{next(self._counter):06d}{'x' * 24}",
            }
        )
        # Stripe reveals the secret only in the answer to the create call.
        return {**self.render(endpoint), "secret": endpoint["_secret"], "_rendered": True}

    def _webhook_endpoint_retrieve(self, params: dict[str, Any], id: str) -> dict[str, Any]:
        return self._retrieve("webhook_endpoint")(params, id)


@pytest.fixture
def fake_stripe(settings):
    """A fresh FakeStripe answering every Stripe API call; settings point JSN at Stripe test mode."""
    import stripe._http_client

    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_ENABLED = True
    settings.STRIPE_PLZ_PRICE_ID = ""
    fake = FakeStripe()
    original_sleep = stripe._http_client.HTTPClient._sleep_time_seconds
    # The SDK's retries (same idempotency key) stay on; only their back-off is made instant.
    stripe._http_client.HTTPClient._sleep_time_seconds = lambda self, num_retries, response=None: 0.0
    try:
        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            fake.install(rsps)
            try:
                yield fake
            finally:
                for hold in fake.holds:  # no thread stays parked in a held request after its test
                    hold.release()
    finally:
        stripe._http_client.HTTPClient._sleep_time_seconds = original_sleep
