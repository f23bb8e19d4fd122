"""Mounted at /admin/audit/ before the admin's own URLs (jsn/urls.py); every view goes through admin_view."""

from django.contrib import admin
from django.urls import path

from audit import views

app_name = "audit"

urlpatterns = [
    path("case/<int:case_id>/", admin.site.admin_view(views.case_timeline), name="case_timeline"),
    path("user/<int:user_id>/", admin.site.admin_view(views.user_timeline), name="user_timeline"),
]
