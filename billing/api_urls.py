"""API routes of this app, mounted under /api/v3/."""

from django.urls import path

from billing import api

urlpatterns = [
    path("billing/invoices", api.InvoiceListApi.as_view(), name="api-billing-invoices"),
    path("billing/invoices/<int:invoice_id>", api.InvoiceDetailApi.as_view(), name="api-billing-invoice"),
    path("billing/summary", api.BillingSummaryApi.as_view(), name="api-billing-summary"),
    path("billing/pricing", api.PricingApi.as_view(), name="api-billing-pricing"),
    path("admin/billing/invoices", api.AdminInvoiceListApi.as_view(), name="api-admin-billing-invoices"),
    path(
        "admin/billing/invoices/<int:invoice_id>/mark-paid",
        api.AdminInvoiceMarkPaidApi.as_view(),
        name="api-admin-billing-invoice-mark-paid",
    ),
    path("admin/billing/generate-daily", api.GenerateDailyApi.as_view(), name="api-admin-billing-generate-daily"),
]
