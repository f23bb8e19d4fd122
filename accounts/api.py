from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.export import data_export_wait, user_data_export
from accounts.views import EXPORT_RATE_LIMITED
from jsn.lib.schema import error_responses


class MeExportApi(APIView):
    """Everything JSN holds about you (profile, claims, invoices, document accesses, PLZ subscriptions, deliveries)."""

    @extend_schema(operation_id="me_export", responses={200: OpenApiTypes.OBJECT, **error_responses(429)})
    def get(self, request: Request) -> Response:
        wait = data_export_wait(user=request.user)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail=EXPORT_RATE_LIMITED)
        return Response(user_data_export(user=request.user))
