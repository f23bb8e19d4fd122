"""Scheduled jobs in the admin: django-celery-beat's periodic tasks with each job's last result, an audited
"Run now" for the safe ones (backoffice.jobs.RUN_NOW_ALLOWED), and the read-only history of runs."""

from django.contrib import admin, messages
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import HttpRequest
from django.utils.html import format_html
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from backoffice.jobs import RUN_NOW_ALLOWED, RUN_NOW_REFUSED, JobError, job_run_now
from backoffice.models import JobRun
from backoffice.templatetags.backoffice import TONES

RUN_NOW_QUEUED = "“{job}” queued (task {task_id}); its result appears under Job runs."


class JobPeriodicTaskAdmin(PeriodicTaskAdmin):
    list_display = ("name", "enabled", "scheduler", "last_run", "last_success", "run_now_note", "last_run_at")
    list_filter = ["enabled", "one_off", "task", "last_run_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PeriodicTask]:
        # The latest run and the latest success come in the list's own query (subqueries on JobRun's indexes).
        latest = JobRun.objects.filter(job=OuterRef("name")).order_by("-id")
        success = JobRun.objects.filter(job=OuterRef("name"), status=JobRun.Status.SUCCESS).order_by(
            "-finished_at", "-id"
        )
        return (
            super()
            .get_queryset(request)
            .annotate(
                last_status=Subquery(latest.values("status")[:1]),
                last_started_at=Subquery(latest.values("started_at")[:1]),
                last_result=Subquery(latest.values("result")[:1]),
                last_error=Subquery(latest.values("error")[:1]),
                last_success_at=Subquery(success.values("finished_at")[:1]),
            )
        )

    def get_actions(self, request: HttpRequest) -> dict:
        actions = super().get_actions(request)
        # django-celery-beat's own "Run selected tasks" runs anything (bill-daily too) and records nobody: replaced
        # by run_now below.
        actions.pop("run_tasks", None)
        return actions

    actions = ("enable_tasks", "disable_tasks", "toggle_tasks", "run_now")

    @admin.display(description="Last run (result)")
    def last_run(self, task: PeriodicTask) -> str:
        if task.last_status is None:
            return "never"
        tone = TONES.get("failing" if task.last_status == JobRun.Status.FAILURE else "ok", "muted")
        started = f"{task.last_started_at:%Y-%m-%d %H:%M}" if task.last_started_at else "queued"
        outcome = (task.last_error or task.last_result or "")[:120]
        return format_html(
            '<span class="bo-badge bo-{}">{}</span> {}<br><small>{}</small>', tone, task.last_status, started, outcome
        )

    @admin.display(description="Last success", ordering="last_success_at")
    def last_success(self, task: PeriodicTask) -> str:
        return f"{task.last_success_at:%Y-%m-%d %H:%M}" if task.last_success_at else "never"

    @admin.display(description="Run now")
    def run_now_note(self, task: PeriodicTask) -> str:
        if task.name in RUN_NOW_ALLOWED:
            return "allowed"
        return RUN_NOW_REFUSED.get(task.name, "not on the allow-list")

    @admin.action(description="Run now (safe jobs only; audited)", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        for task in queryset.order_by("name"):
            try:
                run = job_run_now(job=task.name, actor=request.user)
            except JobError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            self.log_change(request, task, f"Run now: queued task {run.task_id}")
            self.message_user(request, RUN_NOW_QUEUED.format(job=task.name, task_id=run.task_id), messages.SUCCESS)

    class Media:
        css = {"all": ["backoffice/dashboard.css"]}


admin.site.unregister(PeriodicTask)
admin.site.register(PeriodicTask, JobPeriodicTaskAdmin)


@admin.register(JobRun)
class JobRunAdmin(admin.ModelAdmin):
    """History of scheduled job runs: written by Celery's signals and by Run now, never edited here."""

    list_display = ["job", "status_badge", "trigger", "requested_by", "started_at", "finished_at", "duration"]
    list_display += ["summary"]
    list_filter = ("status", "trigger", "job")
    search_fields = ("=task_id", "job")
    list_select_related = ("requested_by",)
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in JobRun._meta.fields]

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run: JobRun) -> str:
        tone = {JobRun.Status.SUCCESS: "good", JobRun.Status.FAILURE: "bad"}.get(run.status, "info")
        return format_html('<span class="bo-badge bo-{}">{}</span>', tone, run.get_status_display())

    @admin.display(description="Duration")
    def duration(self, run: JobRun) -> str:
        if run.started_at and run.finished_at:
            return f"{(run.finished_at - run.started_at).total_seconds():.1f} s"
        return "—"

    @admin.display(description="Result")
    def summary(self, run: JobRun) -> str:
        text = run.error or run.result
        return text[:100] + ("…" if len(text) > 100 else "")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JobRun | None = None) -> bool:
        return False

    class Media:
        css = {"all": ["backoffice/dashboard.css"]}
