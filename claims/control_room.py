"""/admin/claims/ — the claims control room. It replaces Django admin's app index for the claims app (its URL is
matched before admin.site.urls); the changelists under /admin/claims/<model>/ are unchanged and linked here.

Figures come from backoffice.metrics. Every change goes through claims.services (locked and audited) or
accounts.services (the claim limit, audited in UserEvent), by way of the helpers the changelist actions use too.
"""

from collections.abc import Iterator
from datetime import timedelta

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts import services as account_services
from backoffice import metrics
from billing.services import billing_today
from claims import selectors, services
from claims.admin import reassign_step, release_selected
from claims.forms import ClaimFilterForm, ClaimLimitForm, ReleaseAllForm, ReleaseSelectedForm
from claims.models import Claim
from jsn.lib.control_room import invalid_filters, model_links, page_links, page_number, require_perm, selected_ids
from jsn.lib.csv import EXPORT_CHUNK_SIZE, csv_response
from jsn.lib.pagination import page_of

APP_LABEL = "claims"
PAGE_SIZE = 50
SERIES_DAYS = 14
VIEW_PERMISSION = "claims.view_claim"
CHANGE_PERMISSION = "claims.change_claim"
USER_PERMISSION = "accounts.change_user"
NOTHING_SELECTED = "Select at least one claim."
STAFF_RELEASE_REASON = "Released by staff in the claims control room"


def _filter_form(params: QueryDict) -> ClaimFilterForm:
    return ClaimFilterForm({k: v for k, v in params.items() if k in ClaimFilterForm.base_fields})


def control_room(request: HttpRequest) -> HttpResponse:
    require_perm(request, VIEW_PERMISSION)
    forms: dict[str, object] = {}
    if request.method == "POST":
        op = request.POST.get("op")
        if op in ("release", "reassign", "release_all"):
            require_perm(request, CHANGE_PERMISSION)
        elif op == "claim_limit":
            require_perm(request, USER_PERMISSION)
        else:
            return HttpResponse("Unknown operation.", status=400)
        done, response = _apply(request, op, forms)
        if response is not None:
            return response
        if done:
            return HttpResponseRedirect(request.get_full_path())
    return _render(request, forms)


def _apply(request: HttpRequest, op: str, forms: dict) -> tuple[bool, HttpResponse | None]:
    """Run one operation. (True, None): done, redirect; (False, None): show its form errors; (_, response): a page
    of its own (the reassign form)."""
    if op == "release":
        form = forms["release_form"] = ReleaseSelectedForm(request.POST)
        ids = selected_ids(request)
        if form.is_valid() and not ids:
            form.add_error(None, NOTHING_SELECTED)
        if not form.is_valid():
            return False, None
        reason = form.cleaned_data["reason"].strip() or STAFF_RELEASE_REASON
        release_selected(request, claims=Claim.objects.filter(pk__in=ids), reason=reason)
        return True, None
    if op == "reassign":
        ids = selected_ids(request)
        if not ids:
            forms["release_form"] = ReleaseSelectedForm()
            forms["selection_error"] = NOTHING_SELECTED
            return False, None
        response = reassign_step(
            request,
            claims=Claim.objects.filter(pk__in=ids),
            each_context=admin.site.each_context(request),
            hidden={"op": "reassign"},
            cancel_url=request.get_full_path(),
        )
        return True, response
    if op == "release_all":
        form = forms["release_all_form"] = ReleaseAllForm(request.POST)
        if not form.is_valid():
            return False, None
        user = form.cleaned_data["user"]
        try:
            released = services.claims_release_all_for_user(
                actor=request.user, user=user, reason=form.cleaned_data["reason"]
            )
        except services.ClaimError as exc:  # busy (a row stayed locked): nothing changed
            form.add_error(None, exc.message)
            return False, None
        messages.success(request, f"Released {released} claim{'s' if released != 1 else ''} of {user.email}.")
        return True, None
    form = forms["claim_limit_form"] = ClaimLimitForm(request.POST)
    if not form.is_valid():
        return False, None
    user = form.cleaned_data["user"]
    try:
        change = account_services.user_set_claim_limit(
            actor=request.user,
            user=user,
            claim_limit=form.cleaned_data["claim_limit"],
            reason=form.cleaned_data["reason"],
        )
    except account_services.AccountError as exc:
        form.add_error("claim_limit", exc.message)
        return False, None
    if change.changed:
        messages.success(request, f"Claim limit of {user.email}: {change.previous} → {user.claim_limit}.")
    else:
        messages.info(request, f"The claim limit of {user.email} already was {user.claim_limit}.")
    return True, None


def _render(request: HttpRequest, forms: dict) -> HttpResponse:
    params = request.GET
    filter_form = _filter_form(params)
    page = page_number(params)
    claims, has_next = [], False
    if filter_form.is_valid():
        claims, has_next = page_of(selectors.claim_list_staff(**filter_form.filters()), page=page, size=PAGE_SIZE)
    last_day = billing_today()
    first_day = last_day - timedelta(days=SERIES_DAYS - 1)
    claims_series = metrics.claims_by_day(first_day=first_day, last_day=last_day)
    revenue = metrics.revenue_by_day(first_day=first_day, last_day=last_day)
    currencies = list(revenue.by_currency)
    days = [
        {
            "day": day,
            "new": claims_series.new[n],
            "held": claims_series.held[n],
            "revenue": [(currency, revenue.by_currency[currency][n]) for currency in currencies],
        }
        for n, day in reversed(list(enumerate(claims_series.days)))
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Claims",
        "subtitle": None,
        "app_label": "claims",
        "stats": metrics.claim_stats(now=timezone.now()),
        "days": days,
        "currencies": currencies,
        "filter_form": filter_form,
        "claims": claims,
        "page": page,
        **page_links(params, page=page, has_next=has_next),
        "release_form": forms.get("release_form") or ReleaseSelectedForm(),
        "selection_error": forms.get("selection_error"),
        "release_all_form": forms.get("release_all_form") or ReleaseAllForm(),
        "claim_limit_form": forms.get("claim_limit_form") or ClaimLimitForm(),
        "can_change": request.user.has_perm(CHANGE_PERMISSION),
        "can_change_users": request.user.has_perm(USER_PERMISSION),
        "models": model_links(request, app_label=APP_LABEL),
    }
    return TemplateResponse(request, "admin/claims/control_room.html", context)


CLAIM_CSV_HEADER = [
    "claim_id",
    "case_id",
    "county",
    "state",
    "user_id",
    "user_email",
    "status",
    "claimed_at",
    "expires_at",
    "released_at",
    "release_reason",
    "score_at_claim",
    "daily_price_cents",
    "currency",
    "pricing_version",
]


def export(request: HttpRequest) -> StreamingHttpResponse | HttpResponse:
    """The claims matching the control room's filters, one row each, streamed."""
    require_perm(request, VIEW_PERMISSION)
    form = _filter_form(request.GET)
    if not form.is_valid():
        return invalid_filters(form)
    claims = selectors.claim_list_staff(**form.filters())

    def rows() -> Iterator[tuple]:
        for claim in claims.iterator(chunk_size=EXPORT_CHUNK_SIZE):
            yield (
                claim.pk,
                claim.case_id,
                claim.case.county,
                claim.case.state,
                claim.user_id,
                claim.user.email,
                claim.status,
                claim.claimed_at.isoformat(),
                claim.expires_at.isoformat() if claim.expires_at else "",
                claim.released_at.isoformat() if claim.released_at else "",
                claim.release_reason,
                claim.score_at_claim,
                claim.daily_price_cents,
                claim.currency,
                claim.pricing_version if claim.pricing_version is not None else "",
            )

    return csv_response(filename="claims.csv", header=CLAIM_CSV_HEADER, rows=rows())
