"""HTML routes for documents, mounted under /cases/documents/ (so the login-required URL walk covers them)."""

from django.urls import path

from cases import document_views

urlpatterns = [
    path("<int:document_id>/link/", document_views.document_link, name="document_link"),
    path("download/<str:token>/", document_views.download, name="document_download"),
]
