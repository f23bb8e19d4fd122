"""API routes of this app, mounted under /api/v3/."""

from django.urls import path

from claims import api

urlpatterns = [
    path("cases/claim", api.CasesClaimApi.as_view(), name="api-cases-claim"),
    path("cases/release", api.CasesReleaseApi.as_view(), name="api-cases-release"),
    path("cases/<int:case_id>/claim", api.CaseClaimApi.as_view(), name="api-case-claim"),
    path("cases/<int:case_id>/release", api.CaseReleaseApi.as_view(), name="api-case-release"),
    path("claims", api.ClaimListApi.as_view(), name="api-claim-list"),
    path("claims/count", api.ClaimCountApi.as_view(), name="api-claim-count"),
    path("admin/claims", api.AdminClaimListApi.as_view(), name="api-admin-claims"),
    path(
        "admin/users/<int:user_id>/release-all-claims",
        api.UserReleaseAllClaimsApi.as_view(),
        name="api-admin-user-release-all-claims",
    ),
]
