"""OpenAPI generation tweaks."""

from drf_spectacular.authentication import SessionScheme as SpectacularSessionScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.serializers import BaseSerializer


class ErrorSerializer(serializers.Serializer):
    """Every error answer of the API (jsn.lib.api.exception_handler); some add fields, e.g. `errors`, `fix_url`."""

    code = serializers.CharField()
    detail = serializers.CharField()


def error_responses(*codes: int, description: str = "`{code, detail}`") -> dict[int, OpenApiResponse]:
    """`responses=` entries for error answers a view gives itself (e.g. 409 `already_claimed`, 429)."""
    return {code: OpenApiResponse(ErrorSerializer, description=description) for code in codes}


# Answers that come from the framework around every view, not from the view's own code.
FRAMEWORK_ERRORS = {
    400: "`invalid` / `parse_error`: the request body or a query parameter is malformed.",
    401: "`not_authenticated` / `authentication_failed`: no or a bad token (`WWW-Authenticate: Token`) and no session.",
    403: "`permission_denied` (not allowed, or a session request without its CSRF token) or `terms_not_accepted`.",
    404: "`not_found`: no such object (or not yours), or a page past the end of the list.",
}


class SessionScheme(SpectacularSessionScheme):
    """Documents jsn.lib.auth.SessionAuthentication as drf-spectacular documents DRF's (cookieAuth)."""

    target_class = "jsn.lib.auth.SessionAuthentication"


class AutoSchema(SpectacularAutoSchema):
    """Names components after their qualified class name, and documents the framework's own error answers.

    The house style nests `InputSerializer`/`OutputSerializer` inside each API view, so plain class names
    collide ("Output" everywhere); `CasesClaimApi.OutputSerializer` becomes `CasesClaimApiOutput`.
    """

    def get_serializer_name(self, serializer: BaseSerializer, direction: str) -> str:
        qualname = serializer.__class__.__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "").removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)

    def _framework_error_codes(self) -> list[int]:
        """Error statuses any view of this shape can answer, whatever its own code does (proven by S8)."""
        codes = []
        parameters = self._get_parameters()
        has_query = any(p.get("in") == "query" for p in parameters)
        if has_query or self._get_request_body():
            codes.append(400)  # DRF's parsers and our validation: malformed JSON, wrong types, bad filters
        if any(not isinstance(p, AllowAny) for p in self.view.get_permissions()):
            codes.append(401)  # no or bad credentials (token authentication first, so DRF sends its challenge)
            codes.append(403)  # permissions, terms, CSRF
        if "{" in self.path or any(p.get("in") == "query" and p.get("name") == "page" for p in parameters):
            codes.append(404)  # the object in the path does not exist, or is someone else's; a page past the end
        return codes

    def _get_response_bodies(self, direction: str = "response") -> dict:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code in self._framework_error_codes():
            if str(code) not in responses:
                response = OpenApiResponse(ErrorSerializer, description=FRAMEWORK_ERRORS[code])
                responses[str(code)] = self._get_response_for_code(response, str(code), direction=direction)
        if "401" in responses:
            responses["401"].setdefault("headers", {})["WWW-Authenticate"] = {
                "schema": {"type": "string", "enum": ["Token"]},
                "description": "The scheme to authenticate with: `Authorization: Token <key>`.",
            }
        return dict(sorted(responses.items()))
