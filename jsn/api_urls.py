"""/api/v3/… — every app adds its API routes here."""

from django.urls import include, path

from cases import api as cases_api
from cases import document_api

urlpatterns = [
    path("cases", cases_api.CaseListApi.as_view(), name="api-case-list"),
    path("cases/<int:case_id>", cases_api.CaseDetailApi.as_view(), name="api-case-detail"),
    path("documents/<int:document_id>/link", document_api.DocumentLinkCreateApi.as_view(), name="api-document-link"),
    path("", include("accounts.api_urls")),
    path("", include("claims.api_urls")),
    path("", include("billing.api_urls")),
    path("", include("leads.api_urls")),
    path("", include("backoffice.api_urls")),
]
