"""Read-only audit timelines in the back office: one per case, one per user (staff only, per-source permissions)."""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from accounts.models import User
from audit import selectors
from audit.forms import TimelineFilterForm
from audit.selectors import Subject, TimelinePage
from cases.models import Case

TEMPLATE = "admin/audit/timeline.html"
ERR_NO_SOURCES = "You may not read any of the audit sources of this timeline."


def _permitted(request: HttpRequest, *, subject: Subject, model_permission: str) -> tuple:
    kinds = selectors.timeline_kinds_for(viewer=request.user, subject=subject)
    if not request.user.has_perm(model_permission) or not kinds:
        raise PermissionDenied(ERR_NO_SOURCES)
    return kinds


def _bound_form(request: HttpRequest, kinds: tuple) -> TimelineFilterForm:
    """The filter form, always bound: no `kind` in the query string means every kind (all boxes ticked)."""
    data = request.GET.copy()
    if "kind" not in data:
        data.setlist("kind", [kind.value for kind in kinds])
    return TimelineFilterForm(data, kinds=kinds)


def _query(form: TimelineFilterForm) -> dict[str, Any]:
    data = form.cleaned_data
    return {"kinds": data["kind"] or None, "since": data["since"], "until": data["until"], "before": data["before"]}


def _page_links(request: HttpRequest, page: TimelinePage | None) -> dict[str, str | None]:
    """Newest and older links that keep the filters; only the cursor changes."""
    params = request.GET.copy()
    params.pop("before", None)
    newest = f"?{params.urlencode()}" if params else "?"
    older = None
    if page is not None and page.next_cursor:
        older_params = QueryDict(mutable=True)
        older_params.update(params)
        older_params["before"] = page.next_cursor
        older = f"?{older_params.urlencode()}"
    return {"newest_url": newest, "older_url": older, "is_first_page": "before" not in request.GET}


def _render(
    request: HttpRequest, *, form: TimelineFilterForm, page: TimelinePage | None, context: dict[str, Any]
) -> HttpResponse:
    full = {
        **admin.site.each_context(request),
        **context,
        "form": form,
        "page": page,
        "entries": page.entries if page else [],
        **_page_links(request, page),
    }
    return TemplateResponse(request, TEMPLATE, full, status=200 if form.is_valid() else 400)


def case_timeline(request: HttpRequest, case_id: int) -> HttpResponse:
    kinds = _permitted(request, subject=Subject.CASE, model_permission="cases.view_case")
    case = get_object_or_404(Case.objects.select_related("assigned_to"), pk=case_id)
    form = _bound_form(request, kinds)
    page = None
    if form.is_valid():
        page = selectors.timeline_for_case(case_id=case.pk, viewer=request.user, **_query(form))
    return _render(
        request,
        form=form,
        page=page,
        context={
            "title": f"Audit timeline: case #{case.pk}",
            "subject": "case",
            "case": case,
            "change_url": reverse("admin:cases_case_change", args=[case.pk]),
            "owner_timeline_url": (
                reverse("audit:user_timeline", args=[case.assigned_to_id]) if case.assigned_to_id else None
            ),
        },
    )


def user_timeline(request: HttpRequest, user_id: int) -> HttpResponse:
    kinds = _permitted(request, subject=Subject.USER, model_permission="accounts.view_user")
    form = _bound_form(request, kinds)
    page = None
    try:
        if form.is_valid():
            page = selectors.timeline_for_user(user_id=user_id, viewer=request.user, **_query(form))
            subject_user = page.user
        else:
            subject_user = User.objects.get(pk=user_id)
    except User.DoesNotExist:
        raise Http404("No such user.") from None
    return _render(
        request,
        form=form,
        page=page,
        context={
            "title": f"Audit timeline: {subject_user.email}",
            "subject": "user",
            "subject_user": subject_user,
            "change_url": reverse("admin:accounts_user_change", args=[subject_user.pk]),
        },
    )


def timeline_url(*, viewer: User, subject: Subject, pk: int) -> str | None:
    """The timeline's URL for a link on an admin page, or None when viewer could not open it."""
    model_permission = "cases.view_case" if subject == Subject.CASE else "accounts.view_user"
    if not viewer.has_perm(model_permission) or not selectors.timeline_kinds_for(viewer=viewer, subject=subject):
        return None
    return reverse("audit:case_timeline" if subject == Subject.CASE else "audit:user_timeline", args=[pk])
