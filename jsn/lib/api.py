"""Shared API plumbing: every error answer is `{"code": <machine-readable>, "detail": <human text>}`."""

from typing import Any

from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from jsn.lib.unavailable import (
    DATABASE_UNAVAILABLE,
    DATABASE_UNAVAILABLE_DETAIL,
    is_database_unavailable,
    unavailable_headers,
)


class ApiError(exceptions.APIException):
    """An error with our own machine-readable code, e.g. ApiError(409, "already_claimed", "…")."""

    def __init__(self, status_code: int, code: str, detail: str, **extra: Any) -> None:
        self.status_code = status_code
        self.code = code
        self.extra = extra
        super().__init__(detail=detail, code=code)


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


def error_response(status_code: int, code: str, detail: str) -> Response:
    return Response({"code": code, "detail": detail}, status=status_code)


__all__ = ["ApiError", "error_response", "exception_handler", "status"]
