"""Staff read-only API under /api/v3/admin/…: billing summary, claim statistics, system health."""

from dataclasses import asdict
from datetime import date
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from backoffice import metrics
from backoffice.health import OVERALL_STATUSES, system_health
from billing.services import billing_today
from jsn.lib.api import ApiError
from jsn.lib.health import CHECK_STATUSES

MAX_RANGE_DAYS = 366
ERR_MONTH_AND_RANGE = "Give either month=YYYY-MM or from/to dates, not both."
ERR_INCOMPLETE_RANGE = "A range needs both from and to (YYYY-MM-DD)."
ERR_REVERSED_RANGE = "from must be on or before to."
ERR_RANGE_TOO_LONG = f"A range covers at most {MAX_RANGE_DAYS} days."
ERR_BAD_PARAMS = "month must be YYYY-MM; from and to must be dates (YYYY-MM-DD)."


class ErrorOutputSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class MoneyOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    cents = serializers.IntegerField()


class BucketOutputSerializer(serializers.Serializer):
    cents = serializers.IntegerField()
    count = serializers.IntegerField(help_text="Number of invoices.")


class CurrencyBillingOutputSerializer(serializers.Serializer):
    currency = serializers.CharField()
    billed = BucketOutputSerializer()
    collected = BucketOutputSerializer()
    pending = BucketOutputSerializer()
    failed = BucketOutputSerializer()
    uncollectible = BucketOutputSerializer()
    void = BucketOutputSerializer()


class AdminBillingSummaryApi(APIView):
    """Staff: invoices dated in a month or a date range (default: this month in BILLING_TIME_ZONE), per currency.

    billed = every invoice that is not void; collected = paid; pending = open or draft; failed = payment failed and
    not settled; uncollectible = written off; void = cancelled (not in billed).
    """

    permission_classes = [IsAdminUser]

    class InputSerializer(serializers.Serializer):
        month = serializers.RegexField(
            r"^\d{4}-(0[1-9]|1[0-2])$", required=False, help_text="YYYY-MM. Default: the current month."
        )
        to = serializers.DateField(required=False, help_text="Last day of a range (inclusive), with from.")
        # "from" is a Python keyword: declared through the class namespace.
        vars()["from"] = serializers.DateField(required=False, help_text="First day of a range, with to.")

    class OutputSerializer(serializers.Serializer):
        first_day = serializers.DateField()
        last_day = serializers.DateField()
        currencies = CurrencyBillingOutputSerializer(many=True)
        payment_failures = serializers.IntegerField(
            help_text="Invoices dated in the period whose payment failed at least once (paid since or not)."
        )
        invoices_failing = serializers.IntegerField(help_text="Invoices of any date whose payment is failing now.")

    @extend_schema(
        parameters=[InputSerializer],
        responses={
            200: OutputSerializer,
            400: OpenApiResponse(
                ErrorOutputSerializer,
                description="`invalid_params`, `month_and_range`, `incomplete_range`, `reversed_range`, "
                "`range_too_long`",
            ),
        },
    )
    def get(self, request: Request) -> Response:
        first_day, last_day = self._period(request.query_params)
        summary = metrics.billing_summary(first_day=first_day, last_day=last_day)
        return Response(self.OutputSerializer(summary).data)

    def _period(self, params: Any) -> tuple[date, date]:
        serializer = self.InputSerializer(data=params)
        if not serializer.is_valid():
            raise ApiError(400, "invalid_params", ERR_BAD_PARAMS, errors=serializer.errors)
        data = serializer.validated_data
        month, first, last = data.get("month"), data.get("from"), data.get("to")
        if month is not None:
            if first or last:
                raise ApiError(400, "month_and_range", ERR_MONTH_AND_RANGE)
            return metrics.month_bounds(month=date(int(month[:4]), int(month[5:]), 1))
        if first is None and last is None:
            return metrics.month_bounds(month=billing_today())
        if first is None or last is None:
            raise ApiError(400, "incomplete_range", ERR_INCOMPLETE_RANGE)
        if first > last:
            raise ApiError(400, "reversed_range", ERR_REVERSED_RANGE)
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise ApiError(400, "range_too_long", ERR_RANGE_TOO_LONG)
        return first, last


class AdminClaimStatsApi(APIView):
    """Staff: claim totals and what the active claims add per day (their frozen prices), per currency."""

    permission_classes = [IsAdminUser]

    class OutputSerializer(serializers.Serializer):
        as_of = serializers.DateTimeField()
        total = serializers.IntegerField()
        active = serializers.IntegerField()
        released = serializers.IntegerField()
        expired = serializers.IntegerField()
        reassigned = serializers.IntegerField()
        claimed_today = serializers.IntegerField(help_text="Claims started today (billing day).")
        ended_today = serializers.IntegerField(help_text="Claims released, expired or reassigned today.")
        expiring_within_24h = serializers.IntegerField()
        active_not_billed = serializers.IntegerField(help_text="Active claims of users whose billing is off.")
        daily_revenue = MoneyOutputSerializer(many=True, help_text="Per day, from active claims of billed users.")

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        now = timezone.now()
        stats = metrics.claim_stats(now=now)
        return Response(self.OutputSerializer({"as_of": now, **asdict(stats)}).data)


class CheckOutputSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=CHECK_STATUSES)
    detail = serializers.CharField()
    at = serializers.DateTimeField(allow_null=True, help_text="When it was last seen working, where that applies.")


class WorkersCheckOutputSerializer(CheckOutputSerializer):
    workers = serializers.ListField(child=serializers.CharField(), source="items", help_text="Workers that answered.")


class StripeCheckOutputSerializer(CheckOutputSerializer):
    configured = serializers.BooleanField()
    webhooks_received_24h = serializers.IntegerField()
    webhooks_failed_24h = serializers.IntegerField()


class DialfireCheckOutputSerializer(CheckOutputSerializer):
    configured = serializers.BooleanField()
    last_success_at = serializers.DateTimeField(allow_null=True)
    last_error = serializers.CharField()


class AdminSystemHealthApi(APIView):
    """Staff: database, cache, Celery workers (pinged, bounded by CELERY_PING_TIMEOUT_SECONDS), Beat's last tick,
    Stripe (configured, last webhook) and the Dialfire import (last poll). `status` is ok, degraded or down."""

    permission_classes = [IsAdminUser]

    class OutputSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=OVERALL_STATUSES)
        checked_at = serializers.DateTimeField()
        database = CheckOutputSerializer()
        cache = CheckOutputSerializer()
        celery_workers = WorkersCheckOutputSerializer()
        beat = CheckOutputSerializer()
        stripe = StripeCheckOutputSerializer()
        dialfire = DialfireCheckOutputSerializer()

    @extend_schema(responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        report = system_health()
        return Response(self.OutputSerializer(report).data)
