from django.conf import settings
from django.db import models


class JobRun(models.Model):
    """One run of a scheduled job (a CELERY_BEAT_SCHEDULE entry), written by Celery's task signals.

    A "Run now" from the admin writes the row first (who asked, when: the audit), then enqueues the task with the
    row's task id; the worker's signals move the same row to running and to its result.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCESS = "success", "Succeeded"
        FAILURE = "failure", "Failed"
        RETRY = "retry", "Retrying"

    class Trigger(models.TextChoices):
        BEAT = "beat", "Schedule (Beat)"
        MANUAL = "manual", "Run now (staff)"
        CODE = "code", "Queued by the application"

    job = models.CharField(max_length=200, help_text="The schedule entry's name, e.g. import-dialfire-leads.")
    task = models.CharField(max_length=200)
    task_id = models.CharField(max_length=255, unique=True)
    trigger = models.CharField(max_length=16, choices=Trigger.choices)
    status = models.CharField(max_length=16, choices=Status.choices)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(null=True, blank=True, help_text="Run now: when staff asked for it.")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.TextField(blank=True, help_text="What the task returned (shortened).")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            # The dashboard's "last run" and "last success" per job, and the retention delete.
            models.Index(fields=["job", "-id"], name="jobrun_job_latest"),
            models.Index(fields=["job", "status", "-finished_at"], name="jobrun_job_status_finished"),
        ]

    def __str__(self) -> str:
        return f"{self.job} {self.get_status_display().lower()} ({self.task_id[:8]})"
