"""Back office: what is waiting to be sent, what failed and why; staff can make failed messages due again."""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from outbox import services
from outbox.models import OutboxMessage


class StateFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list[tuple[str, str]]:
        return [("unsent", "Unsent"), ("failed", "Gave up (needs a retry)"), ("sent", "Sent")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "unsent":
            return queryset.filter(sent_at__isnull=True)
        if self.value() == "failed":
            return queryset.filter(sent_at__isnull=True, attempts__gte=services.MAX_ATTEMPTS)
        if self.value() == "sent":
            return queryset.filter(sent_at__isnull=False)
        return queryset


@admin.register(OutboxMessage)
class OutboxMessageAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "created_at", "sent_at", "attempts", "next_attempt_at", "short_error"]
    list_filter = [StateFilter, "kind"]
    search_fields = ["=id", "kind"]
    ordering = ["-id"]
    actions = ["retry_now"]
    readonly_fields = ["kind", "payload", "created_at", "sent_at", "attempts", "next_attempt_at", "last_error"]
    show_full_result_count = False

    @admin.display(description="Last error")
    def short_error(self, obj: OutboxMessage) -> str:
        return obj.last_error[:120]

    @admin.action(description="Retry now (unsent messages only)")
    def retry_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        n = services.outbox_retry(message_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{n} message(s) will be sent by the next sweep.", messages.SUCCESS)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # messages are written by the services that make the change, never by hand

    def has_change_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: OutboxMessage | None = None) -> bool:
        return False
