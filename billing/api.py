"""Billing API: a subscriber's own invoices, summary and the active pricing; staff trigger for the daily job."""

from datetime import date

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import UserRefOutputSerializer
from billing import pricing, selectors, services
from billing.forms import InvoiceFilterForm
from billing.models import BillingRun, Invoice
from billing.services import BillingError, DayNotReady, billing_run_day
from jsn.lib.api import (
    BIGINT_MAX,
    ApiError,
    HasModelPermissions,
    StrictInputSerializer,
    filter_parameters,
    parse_filters,
)
from jsn.lib.pagination import CountedPagination, PageWithoutCount, page_serializer
from jsn.lib.schema import error_responses

ERR_NOT_FOUND = "No such invoice."
ERR_REASON = 'Send {"reason": "…"}: why the invoice is paid, at most 500 characters. It goes into the audit trail.'


class InvoicePagination(CountedPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 100


class InvoiceLineOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    service_date = serializers.DateField()
    case_id = serializers.IntegerField(allow_null=True)
    case_number = serializers.CharField(
        source="visible_case_number", allow_null=True, help_text="Null once you no longer own the case."
    )
    case_label = serializers.CharField()
    description = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_amount_cents = serializers.IntegerField()
    amount_cents = serializers.IntegerField()
    score = serializers.IntegerField(allow_null=True)
    credit_for = serializers.IntegerField(source="credit_for_id", allow_null=True)


class InvoiceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    number = serializers.CharField()
    invoice_date = serializers.DateField()
    status = serializers.ChoiceField(choices=Invoice.Status.choices)
    currency = serializers.CharField()
    subtotal_cents = serializers.IntegerField()
    tax_cents = serializers.IntegerField()
    total_cents = serializers.IntegerField()
    due_date = serializers.DateField()
    paid_at = serializers.DateTimeField(allow_null=True)
    line_count = serializers.IntegerField()


class InvoicePageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = InvoiceOutputSerializer(many=True)


class InvoiceDetailOutputSerializer(InvoiceOutputSerializer):
    line_count = serializers.SerializerMethodField()
    lines = InvoiceLineOutputSerializer(many=True, source="lines.all")

    def get_line_count(self, invoice: Invoice) -> int:
        return len(invoice.lines.all())


class InvoiceListApi(APIView):
    """Your invoices, newest first."""

    @extend_schema(
        parameters=[
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False, description="At most 100."),
        ],
        # 400: a page that is not a whole number ≥ 1; 404: a page past the end (DRF's page-number pagination).
        responses={200: InvoicePageOutputSerializer, **error_responses(400, 404)},
        operation_id="billing_invoices_list",
    )
    def get(self, request: Request) -> Response:
        paginator = InvoicePagination()
        page = paginator.paginate_queryset(selectors.invoice_list_for(user=request.user), request, view=self)
        return paginator.get_paginated_response(InvoiceOutputSerializer(page, many=True).data)


class InvoiceDetailApi(APIView):
    """One of your invoices with its lines. Anyone else's answers 404, exactly like one that does not exist."""

    @extend_schema(responses=InvoiceDetailOutputSerializer)
    def get(self, request: Request, invoice_id: int) -> Response:
        try:
            invoice = selectors.invoice_detail_for(user=request.user, invoice_id=invoice_id)
        except Invoice.DoesNotExist:
            raise ApiError(404, "not_found", ERR_NOT_FOUND) from None
        return Response(InvoiceDetailOutputSerializer(invoice).data)


class MoneySerializer(serializers.Serializer):
    currency = serializers.CharField()
    cents = serializers.IntegerField()


class BillingSummaryOutputSerializer(serializers.Serializer):
    billing_active = serializers.BooleanField()
    month_to_date = MoneySerializer(many=True, help_text="Invoiced this month (void invoices excluded).")
    tomorrow = serializers.DateField()
    tomorrow_claims = serializers.IntegerField()
    tomorrow_charge = MoneySerializer(many=True, help_text="What your active claims cost per day if you keep them.")
    open_invoices = serializers.IntegerField()


def _money(totals: dict[str, int]) -> list[dict]:
    return [{"currency": c, "cents": v} for c, v in sorted(totals.items())]


class BillingSummaryApi(APIView):
    """Totals this month and a preview of tomorrow's charge."""

    @extend_schema(responses=BillingSummaryOutputSerializer)
    def get(self, request: Request) -> Response:
        preview = selectors.tomorrow_charge_for(user=request.user)
        data = {
            "billing_active": request.user.billing_active,
            "month_to_date": _money(selectors.month_totals_for(user=request.user)),
            "tomorrow": preview.day,
            "tomorrow_claims": preview.claims,
            "tomorrow_charge": _money(preview.totals),
            "open_invoices": Invoice.objects.filter(
                user=request.user, status__in=[Invoice.Status.OPEN, Invoice.Status.FAILED]
            ).count(),
        }
        return Response(BillingSummaryOutputSerializer(data).data)


class BandOutputSerializer(serializers.Serializer):
    min_score = serializers.IntegerField()
    max_score = serializers.IntegerField()
    price_cents = serializers.IntegerField()


class PricingOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField(allow_null=True)
    model = serializers.CharField()
    currency = serializers.CharField()
    flat_price_cents = serializers.IntegerField(allow_null=True)
    bands = BandOutputSerializer(many=True)
    cents_per_point = serializers.IntegerField(allow_null=True)
    floor_cents = serializers.IntegerField(allow_null=True)
    ceiling_cents = serializers.IntegerField(allow_null=True)


class PricingApi(APIView):
    """The active pricing: what a claim taken now costs per day, by score."""

    @extend_schema(responses=PricingOutputSerializer)
    def get(self, request: Request) -> Response:
        config = selectors.active_pricing_config()
        if config is None:
            quote = selectors.pricing_quote_for(score=0)
            data = {
                "version": None,
                "model": pricing.PricingModel.FLAT,
                "currency": quote.currency,
                "flat_price_cents": quote.daily_price_cents,
                "bands": [],
                "cents_per_point": None,
                "floor_cents": None,
                "ceiling_cents": None,
            }
        else:
            rule = config.rule()
            data = {
                "version": config.version,
                "model": rule.model,
                "currency": rule.currency,
                "flat_price_cents": rule.flat_price_cents if rule.model == pricing.PricingModel.FLAT else None,
                "bands": pricing.bands_to_data(rule.bands),
                "cents_per_point": rule.cents_per_point if rule.model == pricing.PricingModel.MULTIPLIER else None,
                "floor_cents": rule.floor_cents if rule.model == pricing.PricingModel.MULTIPLIER else None,
                "ceiling_cents": rule.ceiling_cents if rule.model == pricing.PricingModel.MULTIPLIER else None,
            }
        return Response(PricingOutputSerializer(data).data)


class GenerateDailyApi(APIView):
    """Staff: run the daily billing job now, for one past day (default: every unbilled day before today)."""

    permission_classes = [IsAdminUser]

    class InputSerializer(StrictInputSerializer):
        date = serializers.DateField(required=False, help_text="Bill this day only; default: all unbilled days.")
        dry_run = serializers.BooleanField(required=False, default=False)

    class OutputSerializer(serializers.Serializer):
        run_id = serializers.IntegerField(allow_null=True)
        first_day = serializers.DateField()
        last_day = serializers.DateField()
        dry_run = serializers.BooleanField()
        users = serializers.IntegerField()
        invoices = serializers.IntegerField()
        lines = serializers.IntegerField()
        totals = MoneySerializer(many=True)
        failures = serializers.IntegerField()

    @extend_schema(request=InputSerializer, responses=OutputSerializer)
    def post(self, request: Request) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        day: date | None = serializer.validated_data.get("date")
        try:
            summary = billing_run_day(
                day=day, dry_run=serializer.validated_data["dry_run"], trigger=BillingRun.Trigger.API
            )
        except DayNotReady as exc:
            raise ApiError(400, exc.code, str(exc)) from None
        except BillingError as exc:
            raise ApiError(409, "billing_error", str(exc)) from None
        data = {
            "run_id": summary.run_id,
            "first_day": summary.first_day,
            "last_day": summary.last_day,
            "dry_run": summary.dry_run,
            "users": summary.users,
            "invoices": summary.invoices,
            "lines": summary.lines,
            "totals": _money(summary.totals),
            "failures": len(summary.failures),
        }
        return Response(self.OutputSerializer(data).data)


# --- Staff: the invoice book ---------------------------------------------------------------------------------


class AdminInvoiceListApi(APIView):
    """Staff: every user's invoices, newest first, filtered; pages without a total count (follow `next`)."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("billing.view_invoice",)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        number = serializers.CharField()
        user = UserRefOutputSerializer()
        invoice_date = serializers.DateField()
        status = serializers.ChoiceField(choices=Invoice.Status.choices)
        currency = serializers.CharField()
        subtotal_cents = serializers.IntegerField()
        tax_cents = serializers.IntegerField()
        total_cents = serializers.IntegerField()
        due_date = serializers.DateField()
        paid_at = serializers.DateTimeField(allow_null=True)
        stripe_invoice_id = serializers.CharField(allow_null=True)
        stripe_sync_error = serializers.CharField()

    PageOutputSerializer = page_serializer("AdminInvoicePage", OutputSerializer)

    @extend_schema(
        operation_id="admin_billing_invoices_list",
        parameters=filter_parameters(InvoiceFilterForm),
        responses={200: PageOutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        form = parse_filters(InvoiceFilterForm, request.query_params)
        paginator = PageWithoutCount(default_size=50, max_size=100)
        page = paginator.paginate(selectors.invoice_list_staff(**form.filters()), request)
        return paginator.response(self.OutputSerializer(page, many=True).data)


class AdminInvoiceMarkPaidApi(APIView):
    """Staff: mark an invoice paid (e.g. a bank transfer), audited with you and the reason.

    An invoice that is at Stripe is first marked *paid out of band* there, so Stripe never charges the card for
    it; only once Stripe agreed does it become paid here. 409 `already_paid`, or `invalid_transition` when the
    status cannot move to paid (void is final; a draft must be finalized first) — also when Stripe had voided
    it, which then makes it void here. 409 `already_paid_at_stripe`: Stripe had already collected it (it is paid
    here now; nothing was recorded out of band). 502 `stripe_unavailable`: Stripe did not answer, nothing changed,
    retrying is safe. 409 `stripe_refused` / `stripe_not_connected`: Stripe said no, or it has the invoice but
    this installation has no key. 423 `busy`: the invoice is being changed right now. Paid never moves back,
    whatever Stripe sends later."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("billing.change_invoice",)

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(max_length=500, help_text="Recorded in the invoice's audit trail.")

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        number = serializers.CharField()
        status = serializers.CharField()
        paid_at = serializers.DateTimeField(allow_null=True)

    @extend_schema(
        operation_id="admin_billing_invoice_mark_paid",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404, 409, 423, 502)},
    )
    def post(self, request: Request, invoice_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data if isinstance(request.data, dict) else {})
        if not serializer.is_valid() or not serializer.validated_data["reason"].strip():
            raise ApiError(400, "invalid_reason", ERR_REASON)
        if invoice_id > BIGINT_MAX:
            raise ApiError(404, "not_found", ERR_NOT_FOUND)
        try:
            invoice = services.invoice_mark_paid(
                invoice_id=invoice_id, actor=request.user, reason=serializer.validated_data["reason"]
            )
        except Invoice.DoesNotExist:
            raise ApiError(404, "not_found", ERR_NOT_FOUND) from None
        except services.InvoiceTransitionRefused as exc:
            raise ApiError(409, exc.code, str(exc), status=exc.status) from None
        except services.StripeActionError as exc:
            raise ApiError(502 if exc.code == "stripe_unavailable" else 409, exc.code, str(exc)) from None
        except services.InvoiceBusy as exc:
            raise ApiError(423, exc.code, str(exc)) from None
        return Response(self.OutputSerializer(invoice).data)
