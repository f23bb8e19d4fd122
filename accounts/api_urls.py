"""API routes of this app, mounted under /api/v3/."""

from django.urls import path

from accounts import api

urlpatterns = [
    path("me/export", api.MeExportApi.as_view(), name="api-me-export"),
    path(
        "admin/users/<int:user_id>/set-claim-limit",
        api.UserSetClaimLimitApi.as_view(),
        name="api-admin-user-set-claim-limit",
    ),
    path(
        "admin/users/<int:user_id>/toggle-billing",
        api.UserToggleBillingApi.as_view(),
        name="api-admin-user-toggle-billing",
    ),
]
