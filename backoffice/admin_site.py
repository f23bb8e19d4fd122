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

    def get_app_list(self, request: HttpRequest, app_label: str | None = None) -> list[dict[str, Any]]:
        """Built once per request (and app): every admin page asks for it in each_context (the navigation sidebar)
        and the index and app pages again, and each build checks permissions and reverses URLs for every registered
        model, a good part of a page's time (bench/admin.py)."""
        built = request.__dict__.setdefault("_jsn_app_lists", {})
        if app_label not in built:
            built[app_label] = super().get_app_list(request, app_label)
        return built[app_label]

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        """Staff only (admin_view checks is_staff first); the models list stays below the dashboard."""
        context = {"dashboard": dashboard_build(), **(extra_context or {})}
        return super().index(request, extra_context=context)
