from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest, HttpResponse

from accounts.models import User
from audit.selectors import Subject
from audit.views import timeline_url
from claims.admin import release_all_claims


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    ordering = ["email"]
    list_display = ["email", "role", "claim_limit", "billing_active", "is_active", "date_joined", "last_login"]
    list_filter = ["role", "billing_active", "is_active", "is_staff"]
    list_editable = ["claim_limit"]
    actions = [release_all_claims]
    search_fields = ["email", "first_name", "last_name"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    readonly_fields = ["date_joined", "last_login", "terms_version", "terms_accepted_at"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "role")}),
        ("Claims and billing", {"fields": ("claim_limit", "billing_active")}),
        ("Terms", {"fields": ("terms_version", "terms_accepted_at")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),)
    # Only a superuser may grant privileges: otherwise any staff member with "change user" could make
    # themselves (or a friend) an admin.
    PRIVILEGE_FIELDS = ("role", "is_staff", "is_superuser", "groups", "user_permissions")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        if object_id.isdigit():
            extra_context["timeline_url"] = timeline_url(viewer=request.user, subject=Subject.USER, pk=int(object_id))
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in self.PRIVILEGE_FIELDS if f not in fields]
        return fields
