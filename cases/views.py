from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from billing.selectors import pricing_quote_for
from cases import selectors
from cases.filters import parse_case_filters
from cases.models import Case, Contact
from cases.presenters import case_for_viewer, cases_for_viewer, dollars
from claims.selectors import active_claim_on
from jsn.lib.pagination import page_for

PAGE_SIZE = 25


def case_list(request: HttpRequest) -> HttpResponse:
    parsed = parse_case_filters(request.GET, sees_everything=request.user.is_staff)
    rows: list[dict] = []
    page = None
    if not parsed.ok:
        parsed.form.show_rejected_values()
    else:
        pages = selectors.CaseListPages(user=request.user, filters=parsed.filters)
        page = page_for(Paginator(pages, PAGE_SIZE), request.GET.get("page"))
        rows = cases_for_viewer(page.object_list, viewer=request.user)
        for row in rows:  # done here once rather than by template tags per row (reverse, widthratio, intcomma)
            row["detail_url"] = reverse("case_detail", args=[row["id"]])
            row["estimated_value_display"] = dollars(row["estimated_value_cents"])
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("partial", None)
    context = {"form": parsed.form, "rows": rows, "page": page, "query": query.urlencode()}
    if request.htmx and not parsed.ok:
        # htmx swaps no 4xx answer: the errors go in out of band (200), the list and the address bar stay as they
        # were. A full page (no JavaScript) answers 400 with the errors above an empty list.
        response = render(request, "cases/_filter_errors.html", {**context, "oob": True})
        response["HX-Reswap"] = "none"
        response["HX-Push-Url"] = "false"
        return response
    template = "cases/_case_table.html" if request.htmx else "cases/case_list.html"
    return render(request, template, context, status=200 if parsed.ok else 400)


def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = selectors.case_detail_for(user=request.user, case_id=case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None
    data = case_for_viewer(case, viewer=request.user, detail=True)
    can_claim = data["is_claimable"]
    for contact in data.get("contacts") or []:  # "Co-owner", not the stored "co_owner"
        contact["relation_display"] = Contact.Relation(contact["relation"]).label
    context = {
        "case": data,
        "can_claim": can_claim,
        "can_release": data["is_mine"] or (request.user.is_staff and data["is_claimed"]),
        # What a claim would cost now; the price is frozen at the moment of the claim itself.
        "claim_price": pricing_quote_for(score=case.score) if can_claim else None,
        # The viewer's own claim, as My claims shows it: the price frozen at the claim, since when, until when.
        "my_claim": active_claim_on(case_id=case.pk, user_id=request.user.pk) if data["is_mine"] else None,
    }
    return render(request, "cases/case_detail.html", context)
