"""POST /api/v3/documents/<id>/link — a signed, expiring download link for the case's owner."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases.documents import DocumentRefused, document_link_create, secure_headers
from cases.models import Document
from jsn.lib.api import ApiError


class DocumentLinkErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class DocumentLinkCreateApi(APIView):
    """A download link for one document, bound to you and valid for one hour. Owners and staff only."""

    class OutputSerializer(serializers.Serializer):
        url = serializers.URLField(
            help_text=(
                "GET it with the same `Authorization: Token` header, or open it in the browser you are logged in with; "
                "it works for you only, once or more, for an hour."
            )
        )
        expires_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="document_link_create",
        request=None,
        responses={
            201: OutputSerializer,
            403: OpenApiResponse(DocumentLinkErrorSerializer, description="`not_owner`: claim the case first."),
            404: OpenApiResponse(DocumentLinkErrorSerializer, description="`not_found`: no such document."),
            429: OpenApiResponse(DocumentLinkErrorSerializer, description="`rate_limited`: see Retry-After."),
        },
    )
    def post(self, request: Request, document_id: int) -> Response:
        document = Document.objects.filter(pk=document_id).only("id", "case_id").first()
        if document is None:
            raise ApiError(404, "not_found", "No such document.")
        try:
            link = document_link_create(user=request.user, document=document, ip=request.META.get("REMOTE_ADDR"))
        except DocumentRefused as refusal:
            response = Response({"code": refusal.code, "detail": refusal.detail}, status=refusal.status)
            if refusal.retry_after is not None:
                response["Retry-After"] = str(refusal.retry_after)
            return response
        data = {"url": request.build_absolute_uri(link.path), "expires_at": link.expires_at}
        return secure_headers(Response(self.OutputSerializer(data).data, status=201))
