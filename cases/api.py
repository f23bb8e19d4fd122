from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors
from cases.filters import CaseFilterForm, check_case_filters
from cases.models import Case
from cases.presenters import case_for_viewer, cases_for_viewer
from jsn.lib.api import ApiError, filter_parameters
from jsn.lib.pagination import PageWithoutCount


class CaseOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case_number = serializers.CharField(allow_null=True, help_text="Null unless you own the case.")
    state = serializers.CharField()
    county = serializers.CharField()
    city = serializers.CharField()
    zip_code = serializers.CharField()
    street = serializers.CharField(allow_null=True, help_text="Null unless you own the case.")
    parcel_number = serializers.CharField(allow_null=True, help_text="Null unless you own the case.")
    filing_date = serializers.DateField(allow_null=True)
    stage = serializers.ChoiceField(choices=Case.Stage.choices)
    stage_display = serializers.CharField()
    auction_date = serializers.DateField(allow_null=True)
    property_type = serializers.ChoiceField(choices=Case.PropertyType.choices)
    property_type_display = serializers.CharField()
    estimated_value_cents = serializers.IntegerField(allow_null=True)
    amount_owed_cents = serializers.IntegerField(allow_null=True)
    currency = serializers.CharField()
    score = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Case.Status.choices)
    is_claimed = serializers.BooleanField()
    is_mine = serializers.BooleanField()
    is_claimable = serializers.BooleanField(
        help_text="True when you could claim the case now: open, not sold or withdrawn, and nobody holds it."
    )
    is_masked = serializers.BooleanField()


class ContactSummarySerializer(serializers.Serializer):
    contacts = serializers.IntegerField()
    phones = serializers.IntegerField()
    emails = serializers.IntegerField()
    mailing_addresses = serializers.IntegerField()
    text = serializers.CharField()


class ContactOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    relation = serializers.CharField()
    name = serializers.CharField()
    phones = serializers.ListField(child=serializers.CharField())
    emails = serializers.ListField(child=serializers.CharField())
    mailing_address = serializers.CharField()


class DocumentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    title = serializers.CharField()
    page_count = serializers.IntegerField(allow_null=True)
    size_bytes = serializers.IntegerField()
    locked = serializers.BooleanField()


class CaseDetailOutputSerializer(CaseOutputSerializer):
    contact_summary = ContactSummarySerializer()
    contacts_masked = serializers.BooleanField(
        help_text="True when the contacts are withheld from you (not your case, or support staff without access)."
    )
    contacts = ContactOutputSerializer(many=True, help_text="Empty unless you own the case.")
    documents = DocumentOutputSerializer(many=True)


class CaseListOutputSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = CaseOutputSerializer(many=True)


_FILTER_PARAMETERS = filter_parameters(CaseFilterForm, max_page_size=100, default_page_size=25)


class CaseListApi(APIView):
    """Cases, filtered and paginated; sensitive fields are null unless you own the case."""

    @extend_schema(operation_id="cases_list", parameters=_FILTER_PARAMETERS, responses=CaseListOutputSerializer)
    def get(self, request: Request) -> Response:
        parsed = check_case_filters(request.query_params, sees_everything=request.user.is_staff)
        if parsed.refused:
            raise ApiError(400, "masked_field", parsed.refused_detail, fields=list(parsed.refused))
        if parsed.unknown:
            unknown = list(parsed.unknown)
            hint = " Sort with `sort`." if "ordering" in unknown else ""
            detail = f"Unknown parameter: {', '.join(unknown)}.{hint}"
            raise ApiError(400, "unknown_parameter", detail, fields=unknown)
        if parsed.errors is not None:
            raise ApiError(400, "invalid", "The filters are invalid.", errors=parsed.errors)
        viewer = request.user
        pages = selectors.CaseListPages(user=viewer, filters=parsed.filters)
        paginator = PageWithoutCount(default_size=25, max_size=100)
        # The presenter's dicts already hold only JSON-ready values (dates are serialised by the renderer), so
        # the list skips the output serializer: it is the schema, and a test checks the two agree.
        return paginator.response(cases_for_viewer(paginator.paginate(pages, request), viewer=viewer))


class CaseDetailApi(APIView):
    """One case; contacts and document titles are masked unless you own it."""

    @extend_schema(responses=CaseDetailOutputSerializer)
    def get(self, request: Request, case_id: int) -> Response:
        try:
            case = selectors.case_detail_for(user=request.user, case_id=case_id)
        except Case.DoesNotExist:
            raise ApiError(404, "not_found", "No such case.") from None
        data = case_for_viewer(case, viewer=request.user, detail=True)
        return Response(CaseDetailOutputSerializer(data).data)
