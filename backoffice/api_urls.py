"""Staff API routes of the back office, mounted under /api/v3/."""

from django.urls import path

from backoffice import api

urlpatterns = [
    path("admin/billing/summary", api.AdminBillingSummaryApi.as_view(), name="api-admin-billing-summary"),
    path("admin/claims/stats", api.AdminClaimStatsApi.as_view(), name="api-admin-claims-stats"),
    path("admin/system/health", api.AdminSystemHealthApi.as_view(), name="api-admin-system-health"),
]
