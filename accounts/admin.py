from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from accounts import services
from accounts.forms import UserAdminChangeForm, UserAdminCreationForm
from accounts.models import User, UserEvent
from audit.selectors import Subject
from audit.views import timeline_url
from claims.admin import release_all_claims
from jsn.lib.control_room import plain_id

ADMIN_CHANGE_REASON = "Changed in the user admin"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    ordering = ["email"]
    list_display = ["email", "role", "claim_limit", "billing_active", "is_active", "date_joined", "last_login"]
    list_filter = ["role", "billing_active", "is_active", "is_staff"]
    list_editable = ["claim_limit"]
    actions = [release_all_claims]
    search_fields = ["email", "first_name", "last_name"]
    list_per_page = 50  # bench/admin.py: rendering 100 rows is most of a page's time at 100,000 rows
    readonly_fields = ["date_joined", "last_login", "terms_version", "terms_accepted_at", "account_changes"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Profile", {"fields": ("first_name", "last_name", "role")}),
        ("Claims and billing", {"fields": ("claim_limit", "billing_active", "account_changes")}),
        ("Terms", {"fields": ("terms_version", "terms_accepted_at")}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "role", "password1", "password2")}),)
    # Only a superuser may grant privileges: otherwise any staff member with "change user" could make
    # themselves (or a friend) an admin.
    PRIVILEGE_FIELDS = ("role", "is_staff", "is_superuser", "groups", "user_permissions")

    # Changed through accounts.services (locked with the claim path, audited in UserEvent), not by the form's save.
    AUDITED_FIELDS = ("claim_limit", "billing_active")

    ACCOUNT_CHANGES_SHOWN = 10

    @admin.display(description="Account changes")
    def account_changes(self, obj: User) -> str:
        """The latest audited changes of limit and billing by staff, and of the user's API token (read-only; the
        full trail is linked)."""
        if obj.pk is None:
            return "—"
        events = list(obj.events.select_related("actor")[: self.ACCOUNT_CHANGES_SHOWN])
        if not events:
            return "None yet."
        rows = format_html_join(
            "",
            "<li>{} — {}: {} → {} by {}{}</li>",
            (
                (
                    e.created_at.strftime("%Y-%m-%d %H:%M"),
                    e.get_action_display(),
                    e.from_value or "—",
                    e.to_value,
                    e.actor.email if e.actor else "the system",
                    f" ({e.reason})" if e.reason else "",
                )
                for e in events
            ),
        )
        trail = reverse("admin:accounts_userevent_changelist") + f"?user__id__exact={obj.pk}"
        return format_html('<ul class="account-changes">{}</ul><a href="{}">All changes</a>', rows, trail)

    def save_model(self, request: HttpRequest, obj: User, form: forms.ModelForm, change: bool) -> None:
        audited = [f for f in self.AUDITED_FIELDS if change and f in form.changed_data]
        wanted = {f: getattr(obj, f) for f in audited}
        for f in audited:
            setattr(obj, f, form.initial[f])  # the row keeps its value until the service changes it
        super().save_model(request, obj, form, change)
        # The admin wraps this in one transaction: the other fields and the audited changes commit together.
        if "claim_limit" in wanted:
            services.user_set_claim_limit(
                actor=request.user, user=obj, claim_limit=wanted["claim_limit"], reason=ADMIN_CHANGE_REASON
            )
        if "billing_active" in wanted:
            services.user_set_billing(
                actor=request.user, user=obj, billing_active=wanted["billing_active"], reason=ADMIN_CHANGE_REASON
            )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        extra_context = dict(extra_context or {})
        pk = plain_id(object_id)  # not str.isdigit: "²" is a digit to it, and int("²") raises (a 500)
        if pk is not None:
            extra_context["timeline_url"] = timeline_url(viewer=request.user, subject=Subject.USER, pk=pk)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_readonly_fields(self, request: HttpRequest, obj: User | None = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += [f for f in self.PRIVILEGE_FIELDS if f not in fields]
        return fields


@admin.register(UserEvent)
class UserEventAdmin(admin.ModelAdmin):
    """The account audit trail: readable by staff with view permission, changeable by nobody."""

    list_display = ["created_at", "user", "action", "from_value", "to_value", "actor", "reason"]
    list_filter = ["action", "created_at"]
    search_fields = ["=user__id", "user__email", "actor__email", "reason"]
    date_hierarchy = "created_at"
    list_select_related = ["user", "actor"]
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: UserEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: UserEvent | None = None) -> bool:
        return False
