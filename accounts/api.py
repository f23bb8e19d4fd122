"""Accounts API: your own data export; staff changes to a user's claim limit and billing flag (audited)."""

from django.conf import settings
from drf_spectacular.utils import OpenApiTypes, extend_schema
from rest_framework import exceptions, serializers
from rest_framework.permissions import IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.export import data_export_wait, user_data_export
from accounts.models import User
from accounts.views import EXPORT_RATE_LIMITED
from jsn.lib.api import BIGINT_MAX, ApiError, HasModelPermissions
from jsn.lib.schema import error_responses

NO_SUCH_USER = "No such user."
ERR_REASON = "reason must be text of at most 200 characters."


class MeExportApi(APIView):
    """Everything JSN holds about you (profile, claims, invoices, document accesses, PLZ subscriptions, deliveries)."""

    @extend_schema(operation_id="me_export", responses={200: OpenApiTypes.OBJECT, **error_responses(429)})
    def get(self, request: Request) -> Response:
        wait = data_export_wait(user=request.user)
        if wait is not None:
            raise exceptions.Throttled(wait=wait, detail=EXPORT_RATE_LIMITED)
        return Response(user_data_export(user=request.user))


# --- Staff ---------------------------------------------------------------------------------------------------


class UserRefOutputSerializer(serializers.Serializer):
    """A user as staff lists show one."""

    id = serializers.IntegerField()
    email = serializers.EmailField()


def user_or_404(user_id: int) -> User:
    """The user with this id, or 404 `not_found` (also for ids beyond bigint, which PostgreSQL would refuse)."""
    if user_id > BIGINT_MAX:
        raise ApiError(404, "not_found", NO_SUCH_USER)
    try:
        return User.objects.get(pk=user_id)
    except User.DoesNotExist:
        raise ApiError(404, "not_found", NO_SUCH_USER) from None


def _input(serializer_class: type[serializers.Serializer], request: Request) -> dict:
    serializer = serializer_class(data=request.data if isinstance(request.data, dict) else {})
    if not serializer.is_valid():
        errors = serializer.errors
        if "reason" in errors:
            raise ApiError(400, "invalid_reason", ERR_REASON)
        field = next(iter(errors))
        raise ApiError(400, "invalid", f"{field}: {' '.join(str(e) for e in errors[field])}", field=field)
    return serializer.validated_data


class UserSetClaimLimitApi(APIView):
    """Staff: set how many cases the user may hold at once (1–250). Claims already held are kept. Audited."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("accounts.change_user",)

    class InputSerializer(serializers.Serializer):
        claim_limit = serializers.IntegerField(help_text=f"1–{settings.MAX_CLAIM_LIMIT}.")
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        claim_limit = serializers.IntegerField()
        previous = serializers.IntegerField()
        changed = serializers.BooleanField(help_text="False when the limit already had this value (nothing audited).")
        active_claims = serializers.IntegerField(help_text="May exceed the new limit: held claims are kept.")

    @extend_schema(
        operation_id="admin_user_set_claim_limit",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = user_or_404(user_id)
        data = _input(self.InputSerializer, request)
        try:
            change = services.user_set_claim_limit(
                actor=request.user, user=user, claim_limit=data["claim_limit"], reason=data.get("reason", "")
            )
        except services.AccountError as exc:
            raise ApiError(400, exc.code, exc.message) from None
        from claims.selectors import active_claim_count

        out = {
            "user_id": user.pk,
            "claim_limit": user.claim_limit,
            "previous": change.previous,
            "changed": change.changed,
            "active_claims": active_claim_count(user=user),
        }
        return Response(self.OutputSerializer(out).data)


class UserToggleBillingApi(APIView):
    """Staff: switch a user's billing off or on (no body: flip it). Audited; the answer says the new value.

    While billing is off the daily job bills none of the user's days, and those days are not billed later."""

    permission_classes = [IsAdminUser, HasModelPermissions]
    required_permissions = ("accounts.change_user",)

    class InputSerializer(serializers.Serializer):
        billing_active = serializers.BooleanField(
            required=False, allow_null=True, default=None, help_text="Set this value instead of flipping (idempotent)."
        )
        reason = serializers.CharField(required=False, allow_blank=True, max_length=200)

    class OutputSerializer(serializers.Serializer):
        user_id = serializers.IntegerField()
        billing_active = serializers.BooleanField(help_text="The value now.")
        previous = serializers.BooleanField()
        changed = serializers.BooleanField()

    @extend_schema(
        operation_id="admin_user_toggle_billing",
        request=InputSerializer,
        responses={200: OutputSerializer, **error_responses(400, 403, 404)},
    )
    def post(self, request: Request, user_id: int) -> Response:
        user = user_or_404(user_id)
        data = _input(self.InputSerializer, request)
        change = services.user_set_billing(
            actor=request.user, user=user, billing_active=data.get("billing_active"), reason=data.get("reason", "")
        )
        out = {
            "user_id": user.pk,
            "billing_active": user.billing_active,
            "previous": change.previous,
            "changed": change.changed,
        }
        return Response(self.OutputSerializer(out).data)
