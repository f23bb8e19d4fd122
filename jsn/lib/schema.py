"""OpenAPI generation tweaks."""

from drf_spectacular.authentication import SessionScheme as SpectacularSessionScheme
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.serializers import BaseSerializer


class SessionScheme(SpectacularSessionScheme):
    """Documents jsn.lib.auth.SessionAuthentication as drf-spectacular documents DRF's (cookieAuth)."""

    target_class = "jsn.lib.auth.SessionAuthentication"


class AutoSchema(SpectacularAutoSchema):
    """Names components after their qualified class name.

    The house style nests `InputSerializer`/`OutputSerializer` inside each API view, so plain class names
    collide ("Output" everywhere); `CasesClaimApi.OutputSerializer` becomes `CasesClaimApiOutput`.
    """

    def get_serializer_name(self, serializer: BaseSerializer, direction: str) -> str:
        qualname = serializer.__class__.__qualname__
        if "." in qualname and "<locals>" not in qualname:
            return qualname.replace(".", "").removesuffix("Serializer")
        return super().get_serializer_name(serializer, direction)
