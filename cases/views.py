from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from cases import selectors
from cases.filters import parse_case_filters
from cases.models import Case
from cases.presenters import case_for_viewer

PAGE_SIZE = 25


def case_list(request: HttpRequest) -> HttpResponse:
    parsed = parse_case_filters(request.GET, sees_everything=request.user.is_staff)
    rows: list[dict] = []
    page = None
    if parsed.ok:
        qs = selectors.case_list_for(user=request.user, filters=parsed.filters)
        page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
        rows = [case_for_viewer(case, viewer=request.user) for case in page.object_list]
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("partial", None)
    context = {"form": parsed.form, "rows": rows, "page": page, "query": query.urlencode()}
    status = 200 if parsed.ok else 400
    template = "cases/_case_table.html" if request.htmx else "cases/case_list.html"
    return render(request, template, context, status=status)


def case_detail(request: HttpRequest, case_id: int) -> HttpResponse:
    try:
        case = selectors.case_detail_for(user=request.user, case_id=case_id)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None
    return render(request, "cases/case_detail.html", {"case": case_for_viewer(case, viewer=request.user, detail=True)})
