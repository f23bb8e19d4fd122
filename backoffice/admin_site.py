"""JSN's admin site: Django's, with the operations dashboard as its home page."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse

from backoffice.dashboard import dashboard_build


class JsnAdminSite(admin.AdminSite):
    site_header = "JSN back office"
    site_title = "JSN admin"
    index_title = "Operations"
    index_template = "admin/backoffice/index.html"

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """Staff only (admin_view checks is_staff first); the models list stays below the dashboard."""
        context = {"dashboard": dashboard_build(), **(extra_context or {})}
        return super().index(request, extra_context=context)
