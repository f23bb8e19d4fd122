from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.models import DELETION, LogEntry
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.contenttypes.models import ContentType
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from rest_framework.authtoken.admin import TokenProxy  # importing it registers DRF's admin (unregistered below)

from accounts import services
from accounts.forms import UserAdminChangeForm, UserAdminCreationForm
from accounts.models import ApiToken, User, UserEvent
from audit.selectors import Subject
from audit.views import timeline_url
from claims.admin import release_all_claims
from claims.models import Claim
from jsn.lib.control_room import plain_id

ADMIN_CHANGE_REASON = "Changed in the user admin"
LIMIT_BELOW_HELD = (
    "The user {email} holds {held} active claims, more than the new limit of {limit}: they keep them, and can claim "
    "again once they hold fewer than {limit}."
)


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
            held = Claim.objects.filter(user_id=obj.pk, status=Claim.Status.ACTIVE).count()
            if held > wanted["claim_limit"]:  # allowed on purpose (held claims stay), but not silently
                self.message_user(
                    request,
                    LIMIT_BELOW_HELD.format(email=obj.email, held=held, limit=wanted["claim_limit"]),
                    messages.WARNING,
                )
        if "billing_active" in wanted:
            services.user_set_billing(
                actor=request.user, user=obj, billing_active=wanted["billing_active"], reason=ADMIN_CHANGE_REASON
            )

    def formfield_for_dbfield(self, db_field: object, request: HttpRequest, **kwargs: object) -> forms.Field | None:
        if db_field.name == "claim_limit":  # one message for 0 and -1 alike (the column alone would say "≥ 0")
            kwargs.update(min_value=1, max_value=settings.MAX_CLAIM_LIMIT)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

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


# DRF's token admin lists every key in clear, and a key logs in as its user: whoever may view tokens could act as
# any subscriber. Replaced by one that names a token by its last characters and can only revoke it.
admin.site.unregister(TokenProxy)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """A token's primary key is its key. So there is no page per token (rows are not links; the list shows all
    there is), revoking is reached by the owner's id, and the admin log records the owner's id, not the pk."""

    list_display = ["token", "user", "created"]
    list_display_links = None
    list_select_related = ["user"]
    list_filter = ["created"]
    search_fields = ["user__email"]
    search_help_text = "The owner's e-mail address."
    ordering = ["-created"]
    actions = None  # "delete selected" would post keys as the selection
    REVOKED_REASON = "Revoked by staff in the admin"

    @admin.display(description="Token")
    def token(self, obj: ApiToken) -> str:
        return obj.label

    @admin.display(description="")
    def revoke(self, obj: ApiToken) -> str:
        return format_html('<a href="{}">Revoke…</a>', reverse("admin:accounts_apitoken_delete", args=[obj.user_id]))

    def get_list_display(self, request: HttpRequest) -> list[str]:
        return [*self.list_display, "revoke"] if self.has_delete_permission(request) else self.list_display

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> ApiToken | None:
        user_id = plain_id(object_id)  # the owner's id (above)
        return self.get_queryset(request).filter(user_id=user_id).first() if user_id is not None else None

    def change_view(self, request: HttpRequest, object_id: str, *args: object, **kwargs: object) -> HttpResponse:
        raise Http404("API tokens have no page of their own; the list shows each one.")

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        raise Http404("API tokens have no history page; see the owner's account changes.")

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        return super().delete_view(request, object_id, {"title": "Revoke API token", **(extra_context or {})})

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a token is issued by its owner (/me/api-token/), who is the only one to see its key

    def has_change_permission(self, request: HttpRequest, obj: ApiToken | None = None) -> bool:
        return False

    def get_deleted_objects(self, objs: list, request: HttpRequest) -> tuple:
        # Django's list links each object by its pk; revoking a token deletes nothing else.
        return [str(obj) for obj in objs], {}, set(), []

    def log_deletions(self, request: HttpRequest, queryset: object) -> list[LogEntry]:
        content_type = ContentType.objects.get_for_model(self.model, for_concrete_model=False)
        return [
            LogEntry.objects.create(
                user_id=request.user.pk,
                content_type=content_type,
                object_id=str(obj.user_id),
                object_repr=str(obj)[:200],
                action_flag=DELETION,
                change_message=self.REVOKED_REASON,
            )
            for obj in queryset
        ]

    def delete_model(self, request: HttpRequest, obj: ApiToken) -> None:
        services.api_token_revoke(user=obj.user, actor=request.user, reason=self.REVOKED_REASON)
