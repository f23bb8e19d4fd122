"""Shared API plumbing: every error answer is `{"code": <machine-readable>, "detail": <human text>}`."""

from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import OpenApiParameter
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jsn.lib.unavailable import (
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_DETAIL,
    is_database_unavailable,
    unavailable_headers,
)

# The largest id PostgreSQL's bigint holds: a larger one in a URL is "not found", not a database error (500).
BIGINT_MAX = 2**63 - 1
# The highest page number a list accepts (API and control rooms): past it, a 400 rather than a huge OFFSET.
MAX_PAGE = 1_000_000


class ApiError(exceptions.APIException):
    """An error with our own machine-readable code, e.g. ApiError(409, "already_claimed", "…")."""

    def __init__(self, status_code: int, code: str, detail: str, **extra: Any) -> None:
        self.status_code = status_code
        self.code = code
        self.extra = extra
        super().__init__(detail=detail, code=code)


class StrictInputSerializer(serializers.Serializer):
    """A request body that refuses keys it does not know: 400 `unknown_field` naming them. For staff operations,
    where a misspelt field must not quietly mean the default (`{"day": …}` for `{"date": …}` billed every unbilled
    day instead of one)."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in self.fields)
            if unknown:
                raise ApiError(400, "unknown_field", f"Unknown field: {', '.join(unknown)}.", fields=unknown)
        return super().to_internal_value(data)


def exception_handler(exc: Exception, context: dict) -> Response | None:
    response = drf_exception_handler(exc, context)
    if response is None:
        if is_database_unavailable(exc):
            # PostgreSQL down or restarting: a clean, retryable answer (jsn/lib/unavailable.py).
            return Response(
                {"code": DATABASE_UNAVAILABLE, "detail": DATABASE_UNAVAILABLE_DETAIL},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
                headers=unavailable_headers(),
            )
        return None
    if isinstance(exc, ApiError):
        response.data = {"code": exc.code, "detail": str(exc.detail), **exc.extra}
    elif isinstance(exc, exceptions.Throttled):
        response.data = {"code": "rate_limited", "detail": str(exc.detail)}
    elif isinstance(exc, exceptions.ValidationError):
        response.data = {"code": "invalid", "detail": "The request is invalid.", "errors": response.data}
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = {"code": code, "detail": str(exc.detail)}
    return response


class HasModelPermissions(BasePermission):
    """Staff APIs: besides IsAdminUser, the Django permissions the view lists in `required_permissions` — the same
    ones the admin asks for the same operation, so the API is never a way around them."""

    message = "You do not have permission to do this."

    def has_permission(self, request: Any, view: Any) -> bool:
        return bool(request.user and request.user.has_perms(getattr(view, "required_permissions", ())))


# Query parameters of a filtered staff list that are not filters (pagination, DRF's format switch).
NON_FILTER_KEYS = frozenset({"page", "page_size", "format"})


def filter_parameters(form_class: type, *, max_page_size: int = 100, default_page_size: int = 50) -> list:
    """OpenAPI parameters of a list filtered by a Django form (shared with the HTML page) and paged without count."""
    return [
        OpenApiParameter("page", int, required=False, description="Page number, from 1."),
        OpenApiParameter(
            "page_size",
            int,
            required=False,
            description=f"Rows per page, 1–{max_page_size} (default {default_page_size}).",
        ),
    ] + [form_field_parameter(name, field) for name, field in form_class.base_fields.items()]


def form_field_parameter(name: str, field: Any) -> OpenApiParameter:
    """A filter form's field as a query parameter; a choice field publishes its values, so a client can find them
    (e.g. the case list's `claimed=claimable`)."""
    choices = [value for value, _ in getattr(field, "choices", ()) if value != ""]
    return OpenApiParameter(
        name,
        str,
        required=False,
        description=str(field.help_text or field.label or name),
        enum=[str(value) for value in choices] or None,
    )


def parse_filters(form_class: type, params: Any) -> Any:
    """A filter form over the query string. Unknown parameters and invalid values are 400s, never ignored: a typo
    in a filter must not answer with the whole table."""
    unknown = sorted(k for k in params if k not in form_class.base_fields and k not in NON_FILTER_KEYS)
    if unknown:
        raise ApiError(400, "unknown_parameter", f"Unknown parameter: {', '.join(unknown)}.", fields=unknown)
    form = form_class({k: params.get(k) for k in params if k in form_class.base_fields})
    if not form.is_valid():
        raise ApiError(400, "invalid", "The filters are invalid.", errors=form.errors.get_json_data())
    return form


def error_response(status_code: int, code: str, detail: str) -> Response:
    return Response({"code": code, "detail": detail}, status=status_code)


__all__ = [
    "BIGINT_MAX",
    "ApiError",
    "HasModelPermissions",
    "error_response",
    "exception_handler",
    "filter_parameters",
    "parse_filters",
    "status",
]
