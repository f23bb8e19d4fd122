"""GET /api/v3/leads/subscriptions and /api/v3/leads/deliveries — the caller's own rows only."""

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leads import selectors

MAX_ROWS = 500


class LeadSubscriptionListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        plz = serializers.CharField()
        status = serializers.CharField()
        source = serializers.CharField()
        current_period_end = serializers.DateTimeField(allow_null=True)
        created_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="leads_subscriptions_list",
        responses=inline_serializer("LeadSubscriptionList", {"results": OutputSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        rows = selectors.subscriptions_for(user=request.user)[:MAX_ROWS]
        return Response({"results": self.OutputSerializer(rows, many=True).data})


class LeadDeliveryListApi(APIView):
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        lead_id = serializers.IntegerField()
        plz = serializers.CharField(source="lead.plz")
        received_at = serializers.DateTimeField(source="lead.received_at")
        position = serializers.CharField()
        status = serializers.CharField()
        due_at = serializers.DateTimeField(help_text="When the lead is (or was) due to be e-mailed to you.")
        sent_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="leads_deliveries_list",
        responses=inline_serializer("LeadDeliveryList", {"results": OutputSerializer(many=True)}),
    )
    def get(self, request: Request) -> Response:
        rows = selectors.deliveries_for(user=request.user)[:MAX_ROWS]
        return Response({"results": self.OutputSerializer(rows, many=True).data})
