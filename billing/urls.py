from django.urls import path

from billing import views

urlpatterns = [
    path("", views.billing_overview, name="billing"),
    path("card/", views.card_setup, name="billing_card_setup"),
    path("portal/", views.billing_portal, name="billing_portal"),
    path("invoices/<int:invoice_id>/", views.invoice_detail, name="billing_invoice"),
    path("invoices/<int:invoice_id>/pdf", views.invoice_pdf_download, name="billing_invoice_pdf"),
]
