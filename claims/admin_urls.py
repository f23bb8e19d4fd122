"""/admin/claims/… pages of our own, mounted before admin.site.urls (jsn/urls.py): the control room replaces the
app index; /admin/claims/<model>/ still reaches Django's changelists (these routes do not match model names)."""

from django.contrib import admin
from django.urls import path

from claims import control_room
from claims.admin import REASSIGN_TARGETS_URL, ReassignTargetAutocomplete

urlpatterns = [
    path("", admin.site.admin_view(control_room.control_room), name="claims_control_room"),
    path("export/", admin.site.admin_view(control_room.export), name="claims_control_room_export"),
    # The reassign form's search-as-you-type choice of the new owner (claims.admin.ReassignTargetSelect).
    path(
        "reassign-targets/",
        admin.site.admin_view(ReassignTargetAutocomplete.as_view(admin_site=admin.site)),
        name=REASSIGN_TARGETS_URL,
    ),
]
