"""HTML adapters: the "My claims" page and the claim/release form posts (htmx partial or redirect)."""

from collections.abc import Container

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from cases import masking
from cases.models import Case
from claims import selectors, services
from claims.limits import RATE_LIMITED, claim_requests_wait
from claims.models import Claim
from claims.services import MAX_CASE_IDS, ClaimBusyError, ClaimError, Outcome
from jsn.lib.control_room import plain_id

# What each outcome tells the person who clicked.
OUTCOME_TEXT = {
    Outcome.CLAIMED: "Claimed — details unlocked",
    Outcome.ALREADY_CLAIMED: "Already claimed by another subscriber",
    Outcome.NOT_FOUND: "No such case",
    Outcome.NOT_CLAIMABLE: "Can no longer be claimed (closed, sold or withdrawn)",
    Outcome.RELEASED: "Released — details hidden again",
    Outcome.NOT_CLAIMED: "Was not claimed",
    Outcome.NOT_OWNER: "Not yours to release",
}
# A release of a case this user released before: a second post of the same form (a double click without
# JavaScript, an old tab) must not answer "Was not claimed" after the first one released it.
ALREADY_RELEASED = "Already released by you"
OUTCOME_OK = {Outcome.CLAIMED, Outcome.RELEASED}
NOTHING_SELECTED = "Select at least one case first."
TOO_MANY_SELECTED = f"Select at most {MAX_CASE_IDS} cases at once."
BAD_SELECTION = "That selection is not valid. Reload the page and select the cases again."


def my_claims(request: HttpRequest) -> HttpResponse:
    claims = list(selectors.claim_list_for(user=request.user, status="active"))
    for claim in claims:  # the masking policy decides, even here: ownership is cases.assigned_to
        claim.visible = masking.viewer_sees_sensitive(request.user, claim.case)
    ended = list(selectors.claim_list_for(user=request.user).exclude(status="active")[:20])
    for claim in ended:  # "Released by you", not "Released (Released by the owner)"
        own = claim.status == Claim.Status.RELEASED and claim.release_reason == services.OWNER_RELEASE_REASON
        claim.how = "Released by you" if own else claim.get_status_display()
        claim.why = "" if own else claim.release_reason
    context = {
        "claims": claims,
        "ended": ended,
        "daily_total_cents": sum(c.daily_price_cents for c in claims),
        "claim_limit": request.user.claim_limit,
    }
    return render(request, "claims/my_claims.html", context)


def _selected_ids(request: HttpRequest) -> tuple[list[int], str]:
    """The posted case ids (duplicates dropped), or none and the message saying what is wrong with them."""
    raw = [v for v in request.POST.getlist("case_ids") if v != ""]
    if not raw:
        return [], NOTHING_SELECTED
    if len(raw) > MAX_CASE_IDS:
        return [], TOO_MANY_SELECTED
    ids = [plain_id(v) for v in raw]
    if None in ids:
        return [], BAD_SELECTION
    return list(dict.fromkeys(ids)), ""


def _next_url(request: HttpRequest) -> str:
    url = request.POST.get("next", "")
    if url and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=False):
        return url
    return reverse("case_list")


def _respond(request: HttpRequest, *, rows: list[dict], error: str = "", fix_url: str = "") -> HttpResponse:
    if request.htmx:
        context = {"rows": rows, "error": error, "fix_url": fix_url}
        response = render(request, "claims/_claim_results.html", context, status=200)
        response["HX-Trigger"] = "claimsChanged"  # the case table reloads itself: unmasking shows at once
        return response
    if error:
        messages.error(request, error)
    for row in rows:
        level = messages.SUCCESS if row["ok"] else messages.WARNING
        text = format_html("Case #{} ({}): {}", row["case_id"], row["where"], row["text"])
        if row["outcome"] == Outcome.LIMIT_REACHED:  # "Release a case to claim another": where to do that
            text = format_html('{} <a href="{}">Go to My claims</a>', text, reverse("my_claims"))
        messages.add_message(request, level, text)
    return HttpResponseRedirect(_next_url(request))


def _rows(outcomes: list[services.CaseOutcome], *, released_before: Container[int] = ()) -> list[dict]:
    places = {
        c["id"]: f"{c['county']} County, {c['state']}"
        for c in Case.objects.filter(pk__in=[o.case_id for o in outcomes]).values("id", "county", "state")
    }
    rows = []
    for o in outcomes:
        text = OUTCOME_TEXT.get(o.outcome, o.detail)  # limit_reached: the service's message names the limit
        if o.outcome == Outcome.ALREADY_CLAIMED and o.mine:
            text = "Already yours"
        released = o.case_id in released_before
        if released:
            text = ALREADY_RELEASED
        rows.append(
            {
                "case_id": o.case_id,
                "where": places.get(o.case_id, "unknown"),
                "outcome": o.outcome.value,
                "text": text,
                "ok": o.outcome in OUTCOME_OK or o.mine or released,
            }
        )
    return rows


@require_POST
def claim_selected(request: HttpRequest) -> HttpResponse:
    if claim_requests_wait(user=request.user) is not None:
        return _respond(request, rows=[], error=RATE_LIMITED)
    case_ids, problem = _selected_ids(request)
    if problem:
        return _respond(request, rows=[], error=problem)
    try:
        result = services.claim_cases(user=request.user, case_ids=case_ids)
    except ClaimBusyError as exc:
        return _respond(request, rows=[], error=exc.message)
    except services.PaymentRequired as exc:
        return _respond(request, rows=[], error=exc.message, fix_url=exc.fix_url)
    except ClaimError as exc:
        return _respond(request, rows=[], error=exc.message)
    return _respond(request, rows=_rows(result.outcomes))


@require_POST
def release_selected(request: HttpRequest) -> HttpResponse:
    if claim_requests_wait(user=request.user) is not None:
        return _respond(request, rows=[], error=RATE_LIMITED)
    case_ids, problem = _selected_ids(request)
    if problem:
        return _respond(request, rows=[], error=problem)
    try:
        result = services.claim_release(actor=request.user, case_ids=case_ids, reason="")
    except ClaimBusyError as exc:
        return _respond(request, rows=[], error=exc.message)
    not_claimed = [o.case_id for o in result.outcomes if o.outcome == Outcome.NOT_CLAIMED]
    released_before = selectors.cases_released_by(actor_id=request.user.pk, case_ids=not_claimed)
    return _respond(request, rows=_rows(result.outcomes, released_before=released_before))
