"""Page-number pagination without COUNT(*): one row more than the page tells whether there is a next page.

Counting every match costs more than the page itself on large filtered tables, and API clients walk `next`.
"""

from collections.abc import Sequence
from typing import Any, Protocol

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from jsn.lib.api import MAX_PAGE, ApiError
from jsn.lib.control_room import plain_int

PAST_THE_END = "Page {page} is past the end of the list."


def whole_number_param(request: Request, name: str, *, default: int, maximum: int) -> int:
    """A query parameter that must be a whole number from 1 to `maximum` (`default` when absent), else a 400."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = plain_int(raw)  # ASCII digits only: int() would also take "1_0" (10), " 5", "+5", other scripts' digits
    if value is None:
        raise ApiError(400, "invalid", f"{name} must be a whole number.")
    if not 1 <= value <= maximum:
        raise ApiError(400, "invalid", f"{name} must be between 1 and {maximum}.")
    return value


def page_for(paginator: Paginator, raw: str | None) -> Page:
    """The page a list page's `?page=` names: Django's get_page, except that 0, a negative number or anything but
    ASCII digits is the first page (get_page gives the last one for 0 and negatives, and int() takes "1_0")."""
    return paginator.get_page(max(1, plain_int(raw or "") or 1))


def page_of(queryset: QuerySet, *, page: int, size: int) -> tuple[list[Any], bool]:
    """Rows of page `page` (1-based) and whether another page follows: one query, no COUNT."""
    offset = (page - 1) * size
    rows = list(queryset[offset : offset + size + 1])
    return rows[:size], len(rows) > size


class Sliceable(Protocol):
    """Anything that answers `rows[start:stop]` with a list, like a QuerySet (e.g. cases.selectors.CaseListPages)."""

    def __getitem__(self, window: slice) -> Sequence[Any]: ...


def page_serializer(name: str, item: type[serializers.Serializer]) -> serializers.Serializer:
    """The schema of a PageWithoutCount answer: `next` and `previous` links (no count) and the page's `results`."""
    fields = {"next": serializers.URLField(allow_null=True), "previous": serializers.URLField(allow_null=True)}
    return inline_serializer(name, {**fields, "results": item(many=True)})  # made last: DRF orders by creation


class PageWithoutCount:
    page_query_param = "page"
    page_size_query_param = "page_size"

    def __init__(self, *, default_size: int = 25, max_size: int = 100) -> None:
        self.default_size = default_size
        self.max_size = max_size

    def paginate(self, queryset: QuerySet | Sliceable, request: Request) -> Sequence[Any]:
        self.request = request
        self.size = whole_number_param(
            request, self.page_size_query_param, default=self.default_size, maximum=self.max_size
        )
        self.page = whole_number_param(request, self.page_query_param, default=1, maximum=MAX_PAGE)
        rows, self.has_next = page_of(queryset, page=self.page, size=self.size)
        if not rows and self.page > 1:
            # As on the counted lists: a page past the end is a 404, not an empty page whose `previous` points at
            # another empty page. Page 1 of nothing is an empty list.
            raise ApiError(404, "not_found", PAST_THE_END.format(page=self.page))
        return rows

    def response(self, results: list[Any]) -> Response:
        url = self.request.build_absolute_uri()
        next_url = replace_query_param(url, self.page_query_param, self.page + 1) if self.has_next else None
        if self.page <= 1:
            previous_url = None
        elif self.page == 2:
            previous_url = remove_query_param(url, self.page_query_param)
        else:
            previous_url = replace_query_param(url, self.page_query_param, self.page - 1)
        return Response({"next": next_url, "previous": previous_url, "results": results})


class CountedPagination(PageNumberPagination):
    """DRF's page-number pagination (with a count) whose `page` is checked as PageWithoutCount checks it: a page
    that is not a whole number ≥ 1 is a 400 `invalid`, as on the case list, not DRF's 404 "Invalid page.". A page
    past the end stays a 404."""

    def paginate_queryset(self, queryset: QuerySet, request: Request, view: Any = None) -> list[Any] | None:
        if request.query_params.get(self.page_query_param) not in self.last_page_strings:
            whole_number_param(request, self.page_query_param, default=1, maximum=MAX_PAGE)
        return super().paginate_queryset(queryset, request, view)
