"""Claims API: thin adapters over claims.services and claims.selectors. Errors are `{"code", "detail"}`."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api import UserRefOutputSerializer, user_or_404
from cases import masking
from claims import selectors, services
from claims.forms import ClaimFilterForm
from claims.limits import RATE_LIMITED, claim_requests_wait
from claims.models import Claim
from claims.services import MAX_CASE_IDS, ClaimBusyError, ClaimError, Outcome, PaymentRequired
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

PG_BIGINT_MAX = BIGINT_MAX

# Which HTTP status a single-case outcome answers with (bulk calls answer 200 with every outcome).
OUTCOME_STATUS = {
    Outcome.CLAIMED: 201,
    Outcome.RELEASED: 200,
    Outcome.ALREADY_CLAIMED: 409,
    Outcome.LIMIT_REACHED: 409,
    Outcome.NOT_CLAIMABLE: 409,
    Outcome.NOT_CLAIMED: 409,
    Outcome.NOT_FOUND: 404,
    Outcome.NOT_OWNER: 403,
}
# The 400 reason codes for a malformed case_ids list, from the serializer's error codes.
CASE_IDS_ERROR_CODES = {
    "required": ("missing_case_ids", 'Send {"case_ids": [...]} with at least one case id.'),
    "null": ("missing_case_ids", 'Send {"case_ids": [...]} with at least one case id.'),
    "not_a_list": ("invalid_case_ids", "case_ids must be a list of case ids (integers)."),
    "empty": ("empty_case_ids", "case_ids is empty: send at least one case id."),
    "max_length": ("too_many_case_ids", f"At most {MAX_CASE_IDS} case ids per request."),
    "invalid": ("invalid_case_ids", f"Every case id must be a whole number from 1 to {BIGINT_MAX}."),
    "duplicate": ("duplicate_case_ids", "Each case id may appear only once."),
}


def _busy() -> ApiError:
    return ApiError(423, "busy", services.BUSY)


def _throttle(request: Request) -> None:
    wait = claim_requests_wait(user=request.user)
    if wait is not None:
        raise exceptions.Throttled(wait=wait, detail=RATE_LIMITED)


def _claim_error(exc: ClaimError) -> ApiError:
    if isinstance(exc, PaymentRequired):
        # 402 for the whole request, bulk included: the reason is the account's, not any one case's.
        return ApiError(402, exc.code, exc.message, fix_url=exc.fix_url)
    if exc.code == "terms_not_accepted":
        return ApiError(403, exc.code, exc.message, url=reverse("terms"))
    return ApiError(409, exc.code, exc.message)  # e.g. `conflict`: a unique-index race lost twice


class StrictCaseIdField(serializers.IntegerField):
    """A JSON integer id: strings, floats and booleans are refused rather than coerced."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=PG_BIGINT_MAX, **kwargs)

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class CaseIdsInputSerializer(serializers.Serializer):
    case_ids = serializers.ListField(
        child=StrictCaseIdField(), allow_empty=False, max_length=MAX_CASE_IDS, help_text="1–250 distinct case ids."
    )

    def validate_case_ids(self, value: list[int]) -> list[int]:
        if len(set(value)) != len(value):
            raise serializers.ValidationError("Each case id may appear only once.", code="duplicate")
        return value


def _case_ids_error_code(errors: Any) -> str:
    """The DRF error code for `case_ids`. Errors of single ids come keyed by position ({0: [...]}): whatever the
    code (`null` included, for `[null]`), one of the ids is bad, which is `invalid`, not a missing list."""
    field_errors = errors.get("case_ids", [])
    if isinstance(field_errors, dict):
        return "invalid"
    return getattr(field_errors[0], "code", "invalid") if field_errors else "invalid"


def parse_case_ids(data: Any) -> list[int]:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_case_ids", CASE_IDS_ERROR_CODES["not_a_list"][1])
    serializer = CaseIdsInputSerializer(data=data)
    if not serializer.is_valid():
        code = _case_ids_error_code(serializer.errors)
        reason, detail = CASE_IDS_ERROR_CODES.get(code, CASE_IDS_ERROR_CODES["invalid"])
        raise ApiError(400, reason, detail)
    return serializer.validated_data["case_ids"]


def parse_reason(data: Any) -> str:
    """The optional release reason: a string of at most 200 characters, else 400 `invalid_reason`."""
    reason = data.get("reason", "") if isinstance(data, dict) else ""
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > 200:
        raise ApiError(400, "invalid_reason", "reason must be text of at most 200 characters.")
    return reason


class CaseOutcomeSerializer(serializers.Serializer):
    case_id = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=[o.value for o in Outcome])
    detail = serializers.CharField()
    claim_id = serializers.IntegerField(allow_null=True)
    mine = serializers.BooleanField(help_text="True when you own the case after this call.")


class ClaimOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=Claim.Status.choices)
    claimed_at = serializers.DateTimeField()
    released_at = serializers.DateTimeField(allow_null=True)
    release_reason = serializers.CharField()
    expires_at = serializers.DateTimeField(allow_null=True)
    score_at_claim = serializers.IntegerField()
    daily_price_cents = serializers.IntegerField(help_text="Frozen when the claim started.")
    currency = serializers.CharField()
    county = serializers.CharField(source="case.county")
    state = serializers.CharField(source="case.state")
    city = serializers.CharField(source="case.city")
    zip_code = serializers.CharField(source="case.zip_code")
    street = serializers.SerializerMethodField(help_text="Null unless you own the case now.")

    def get_street(self, claim: Claim) -> str | None:
        viewer = self.context["request"].user
        return claim.case.street if masking.viewer_sees_sensitive(viewer, claim.case) else None


def claim_for_viewer(claim: Claim, *, viewer: Any) -> dict[str, Any]:
    """ClaimOutputSerializer's output for one claim, built directly: the single-claim answer is on the hot path and
    a serializer instance deep-copies its 15 fields first. Datetimes are left to the JSON renderer, which writes them
    as the serializer does (ISO 8601, UTC as "Z"); a test holds the two to the same output."""
    case = claim.case
    return {
        "id": claim.pk,
        "case_id": claim.case_id,
        "status": claim.status,
        "claimed_at": claim.claimed_at,
        "released_at": claim.released_at,
        "release_reason": claim.release_reason,
        "expires_at": claim.expires_at,
        "score_at_claim": claim.score_at_claim,
        "daily_price_cents": claim.daily_price_cents,
        "currency": claim.currency,
        "county": case.county,
        "state": case.state,
        "city": case.city,
        "zip_code": case.zip_code,
        "street": case.street if masking.viewer_sees_sensitive(viewer, case) else None,
    }


class CasesClaimApi(APIView):
    """Claim up to 250 cases at once; every case gets its own outcome (all-or-nothing per case).

    402 `payment_method_required` / `payment_past_due` (with `fix_url`) refuses the whole request: the reason is
    the account's, so no case is claimed and none is reported one by one."""

    class OutputSerializer(serializers.Serializer):
        results = CaseOutcomeSerializer(many=True)
        claimed = serializers.IntegerField()
        active_claims = serializers.IntegerField()
        claim_limit = serializers.IntegerField()

    @extend_schema(
        operation_id="cases_claim_bulk",
        request=CaseIdsInputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 402, 403, 409, 423, 429)},
    )
    def post(self, request: Request) -> Response:
        _throttle(request)
        case_ids = parse_case_ids(request.data)
        try:
            result = services.claim_cases(user=request.user, case_ids=case_ids)
        except ClaimBusyError:
            raise _busy() from None
        except ClaimError as exc:
            raise _claim_error(exc) from None
        data = {
            "results": [vars(o) for o in result.outcomes],
            "claimed": result.count(Outcome.CLAIMED),
            "active_claims": result.active_claims,
            "claim_limit": result.claim_limit,
        }
        return Response(self.OutputSerializer(data).data)


class CasesReleaseApi(APIView):
    """Release cases you own (staff: any claimed case); every case gets its own outcome."""

    class InputSerializer(CaseIdsInputSerializer):
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class OutputSerializer(serializers.Serializer):
        results = CaseOutcomeSerializer(many=True)
        released = serializers.IntegerField()

    @extend_schema(
        operation_id="cases_release_bulk",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 423, 429)},
    )
    def post(self, request: Request) -> Response:
        _throttle(request)
        case_ids = parse_case_ids(request.data)
        reason = parse_reason(request.data)
        try:
            result = services.claim_release(actor=request.user, case_ids=case_ids, reason=reason)
        except ClaimBusyError:
            raise _busy() from None
        data = {"results": [vars(o) for o in result.outcomes], "released": result.count(Outcome.RELEASED)}
        return Response(self.OutputSerializer(data).data)


class CaseClaimApi(APIView):
    """Claim one case: 201 with the claim, or 409 `already_claimed` / `limit_reached` / `not_claimable`."""

    @extend_schema(
        operation_id="case_claim",
        request=None,
        responses={201: ClaimOutputSerializer, **error_responses(402, 403, 404, 409, 423, 429)},
    )
    def post(self, request: Request, case_id: int) -> Response:
        _throttle(request)
        if case_id > PG_BIGINT_MAX:
            raise ApiError(404, "not_found", services.NOT_FOUND)
        try:
            result = services.claim_cases(user=request.user, case_ids=[case_id])
        except ClaimBusyError:
            raise _busy() from None
        except ClaimError as exc:
            raise _claim_error(exc) from None
        outcome = result.outcomes[0]
        if outcome.outcome != Outcome.CLAIMED:
            extra: dict[str, Any] = {}
            if outcome.outcome == Outcome.LIMIT_REACHED:
                extra = {"claim_limit": result.claim_limit, "active_claims": result.active_claims}
            elif outcome.outcome == Outcome.ALREADY_CLAIMED:
                extra = {"mine": outcome.mine}
            raise ApiError(OUTCOME_STATUS[outcome.outcome], outcome.outcome.value, outcome.detail, **extra)
        claim = result.claims[0]  # carries its case (locked and updated in the service): no re-read
        return Response(claim_for_viewer(claim, viewer=request.user), status=201)


class CaseReleaseApi(APIView):
    """Release one case: 200, 403 `not_owner` for anyone but the owner or staff, 409 `not_claimed`."""

    class OutputSerializer(serializers.Serializer):
        case_id = serializers.IntegerField()
        outcome = serializers.CharField()
        detail = serializers.CharField()
        claim_id = serializers.IntegerField()

    @extend_schema(
        operation_id="case_release",
        request=inline_serializer(
            "CaseReleaseInput", {"reason": serializers.CharField(required=False, allow_blank=True, max_length=200)}
        ),
        responses={200: OutputSerializer, **error_responses(403, 404, 409, 423, 429)},
    )
    def post(self, request: Request, case_id: int) -> Response:
        _throttle(request)
        if case_id > PG_BIGINT_MAX:
            raise ApiError(404, "not_found", services.NOT_FOUND)
        reason = parse_reason(request.data)
        try:
            result = services.claim_release(actor=request.user, case_ids=[case_id], reason=reason)
        except ClaimBusyError:
            raise _busy() from None
        outcome = result.outcomes[0]
        if outcome.outcome != Outcome.RELEASED:
            raise ApiError(OUTCOME_STATUS[outcome.outcome], outcome.outcome.value, outcome.detail)
        return Response(self.OutputSerializer(vars(outcome)).data)


class ClaimPagination(CountedPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 250


class ClaimPageOutputSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = ClaimOutputSerializer(many=True)


class ClaimListApi(APIView):
    """Your claims, newest first; `status` filters (active, released, expired, reassigned)."""

    @extend_schema(
        operation_id="claims_list",
        parameters=[
            OpenApiParameter("status", str, enum=[s.value for s in Claim.Status], required=False),
            OpenApiParameter("page", int, required=False),
            OpenApiParameter("page_size", int, required=False),
        ],
        # 404: a page past the end (DRF's page-number pagination).
        responses={200: ClaimPageOutputSerializer, **error_responses(400, 404)},
    )
    def get(self, request: Request) -> Response:
        status = request.query_params.get("status", "")
        if status and status not in Claim.Status.values:
            raise ApiError(400, "invalid_status", f"status must be one of: {', '.join(Claim.Status.values)}.")
        qs = selectors.claim_list_for(user=request.user, status=status or None)
        paginator = ClaimPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(
            ClaimOutputSerializer(page, many=True, context={"request": request}).data
        )


class ClaimCountApi(APIView):
    """How many cases you hold now, your limit, and how many more you may claim."""

    class OutputSerializer(serializers.Serializer):
        active = serializers.IntegerField()
        claim_limit = serializers.IntegerField()
        remaining = serializers.IntegerField()

    @extend_schema(operation_id="claims_count", responses=OutputSerializer)
    def get(self, request: Request) -> Response:
        active = selectors.active_claim_count(user=request.user)
        limit = request.user.claim_limit
        data = {"active": active, "claim_limit": limit, "remaining": max(limit - active, 0)}
        return Response(self.OutputSerializer(data).data)


# --- Staff ---------------------------------------------------------------------------------------------------


class AdminClaimListApi(APIView):
    """Staff: every user's claims, newest first, filtered; pages without a total count (follow `next`)."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("claims.view_claim",)

    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        case_id = serializers.IntegerField()
        county = serializers.CharField(source="case.county")
        state = serializers.CharField(source="case.state")
        user = UserRefOutputSerializer()
        status = serializers.ChoiceField(choices=Claim.Status.choices)
        claimed_at = serializers.DateTimeField()
        expires_at = serializers.DateTimeField(allow_null=True)
        released_at = serializers.DateTimeField(allow_null=True)
        release_reason = serializers.CharField()
        score_at_claim = serializers.IntegerField()
        daily_price_cents = serializers.IntegerField()
        currency = serializers.CharField()
        pricing_version = serializers.IntegerField(allow_null=True)

    PageOutputSerializer = page_serializer("AdminClaimPage", OutputSerializer)

    @extend_schema(
        operation_id="admin_claims_list",
        parameters=filter_parameters(ClaimFilterForm),
        responses={200: PageOutputSerializer, **error_responses(400, 403)},
    )
    def get(self, request: Request) -> Response:
        form = parse_filters(ClaimFilterForm, request.query_params)
        paginator = PageWithoutCount(default_size=50, max_size=100)
        page = paginator.paginate(selectors.claim_list_staff(**form.filters()), request)
        return paginator.response(self.OutputSerializer(page, many=True).data)


class UserReleaseAllClaimsApi(APIView):
    """Staff: release every active claim of one user, each audited with you and the reason."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("claims.change_claim",)

    class InputSerializer(StrictInputSerializer):
        reason = serializers.CharField(
            required=False, allow_blank=True, max_length=200, help_text="Recorded in the audit trail."
        )

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        released = serializers.IntegerField(help_text="How many claims this call ended.")
        active_claims = serializers.IntegerField(help_text="Active claims the user holds now (0).")

    @extend_schema(
        operation_id="admin_user_release_all_claims",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404, 423)},
    )
    def post(self, request: Request, user_id: int) -> Response:
        reason = parse_reason(request.data)
        user = user_or_404(user_id)
        try:
            released = services.claims_release_all_for_user(
                actor=request.user, user=user, reason=reason or f"All claims released by staff ({request.user.email})"
            )
        except ClaimBusyError:
            raise _busy() from None
        data = {"user_id": user.pk, "released": released, "active_claims": selectors.active_claim_count(user=user)}
        return Response(self.OutputSerializer(data).data)
