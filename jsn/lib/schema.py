"""OpenAPI generation tweaks."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework.serializers import BaseSerializer


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
