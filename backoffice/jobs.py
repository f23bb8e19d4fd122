"""Scheduled jobs: the code's schedule copied into django-celery-beat's tables, every run recorded (JobRun) from
Celery's task signals, and an audited "run now" for the jobs that are safe to run at any moment."""

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts.models import User
from backoffice.models import JobRun

logger = logging.getLogger(__name__)

# Jobs staff may start from the admin, and why each is safe to run at any moment and twice in a row.
RUN_NOW_ALLOWED: dict[str, str] = {
    "heartbeat": "Only stores the current time: proves a worker takes tasks.",
    "send-due-lead-deliveries": (
        "Sends only deliveries already due; each one is leased before sending and a lead goes to a subscriber at "
        "most once, so an extra run cannot double an e-mail."
    ),
    "import-dialfire-leads": (
        "Continues from the stored cursor; a contact or PDF imported twice stays one lead. Failures are recorded on "
        "the import source, not raised."
    ),
    "check-plz-subscriptions": (
        "Re-reads subscriptions from Stripe and ends manual grants already past their period: the same as the "
        "daily run, earlier."
    ),
    "expire-claims": "Releases only claims whose expiry has passed (compare-and-set): the hourly run, earlier.",
    "billing-reconcile": "Reads Stripe and records differences for staff; it changes no invoice.",
    "sweep-outbox": (
        "Sends outbox messages that are due; each row is locked (SKIP LOCKED) and marked sent in the same "
        "transaction, so a run beside the scheduled one or a nudge never sends a message twice."
    ),
    "delete-orphaned-document-files": (
        "Deletes only files no row references and older than RETENTION_ORPHAN_FILE_DAYS: an earlier run finds "
        "the same files, a second run finds none."
    ),
    "delete-orphaned-lead-pdfs": "As delete-orphaned-document-files, for lead PDFs.",
    "drop-old-webhook-bodies": (
        "Empties bodies older than RETENTION_WEBHOOK_BODY_DAYS; the rows stay, a second run changes nothing."
    ),
    "prune-failed-logins": "Deletes failed-login rows that no longer count towards a lockout; idempotent.",
    "clear-expired-sessions": "Deletes sessions that have already expired (Django's clearsessions).",
}
# Scheduled jobs without "run now", and what to do instead.
RUN_NOW_REFUSED: dict[str, str] = {
    "bill-daily": (
        "Billing runs through “Generate daily invoices” (the billing control room, or POST "
        "/api/v3/admin/billing/generate-daily): it names the day, offers a dry run and records a billing run."
    ),
    "warn-expiring-claims": (
        "It e-mails subscribers; they expect it at 08:00, and each expiry is warned once, so an early run would only "
        "move their warning to an odd hour."
    ),
}

ERR_NOT_ALLOWED = "“{job}” cannot be run from here. {why}"
ERR_UNKNOWN_JOB = "There is no scheduled job named “{job}” in the code's schedule."
ERR_UNKNOWN_TASK = "The task {task} is not registered with Celery."
ERR_QUEUE_FAILED = "The job could not be queued (is the broker running?): {error}"


class JobError(Exception):
    pass


def periodic_tasks_sync() -> list[str]:
    """Write settings.CELERY_BEAT_SCHEDULE into django-celery-beat's tables, as its DatabaseScheduler does when Beat
    starts, so the admin shows every job before Beat's first start. Staff's enabled/disabled choice is kept; the
    schedule itself comes from the code. Idempotent."""
    from django_celery_beat.schedulers import ModelEntry

    from jsn.celery import app

    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        ModelEntry.from_entry(name, app=app, **entry)
    return sorted(settings.CELERY_BEAT_SCHEDULE)


def job_run_now(*, job: str, actor: User) -> JobRun:
    """Queue one run of an allowed job now. The JobRun row (who asked, when) is written before the task is sent,
    so the audit exists even if the broker refuses; the worker's signals then move that row along."""
    if job in RUN_NOW_REFUSED:
        raise JobError(ERR_NOT_ALLOWED.format(job=job, why=RUN_NOW_REFUSED[job]))
    if job not in RUN_NOW_ALLOWED:
        raise JobError(ERR_NOT_ALLOWED.format(job=job, why="Only the jobs listed as safe can be run now."))
    entry = settings.CELERY_BEAT_SCHEDULE.get(job)
    if entry is None:
        raise JobError(ERR_UNKNOWN_JOB.format(job=job))
    from jsn.celery import app

    app.loader.import_default_modules()  # the web process registers tasks lazily; the worker did at start
    task = app.tasks.get(entry["task"])
    if task is None:
        raise JobError(ERR_UNKNOWN_TASK.format(task=entry["task"]))
    run = JobRun.objects.create(
        job=job,
        task=task.name,
        task_id=str(uuid.uuid4()),
        trigger=JobRun.Trigger.MANUAL,
        status=JobRun.Status.QUEUED,
        requested_by=actor,
        requested_at=timezone.now(),
    )
    try:
        # retry=False: a broker that is down answers at once instead of holding the admin page in retries.
        task.apply_async(args=entry.get("args", ()), kwargs=entry.get("kwargs", {}), task_id=run.task_id, retry=False)
    except Exception as exc:  # whatever the broker client raises, the run is recorded as failed
        JobRun.objects.filter(pk=run.pk, status=JobRun.Status.QUEUED).update(
            status=JobRun.Status.FAILURE, finished_at=timezone.now(), error=f"Not queued: {exc}"[:2000]
        )
        raise JobError(ERR_QUEUE_FAILED.format(error=exc)) from exc
    run.refresh_from_db()
    return run


# --- recording runs ----------------------------------------------------------------------------------------------


def _jobs_by_task() -> dict[str, str]:
    return {entry["task"]: name for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}


def _beat_name(task: Task) -> str | None:
    """django-celery-beat's scheduler sends the entry's name as a message header; Celery exposes unknown headers on
    the request (and under request.headers when a task runs eagerly)."""
    request = task.request
    name = getattr(request, "periodic_task_name", None)
    if not name and isinstance(getattr(request, "headers", None), dict):
        name = request.headers.get("periodic_task_name")
    return name or None


def _summary(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, sort_keys=True)
    except (TypeError, ValueError):
        text = repr(value)
    return text[:2000]


@task_prerun.connect(dispatch_uid="backoffice.job_started")
def job_started(sender: Task | None = None, task_id: str = "", task: Task | None = None, **kwargs: Any) -> None:
    if task is None:
        return
    beat_name = _beat_name(task)
    job = beat_name or _jobs_by_task().get(task.name)
    if job is None:
        return  # not a scheduled job
    now = timezone.now()
    try:
        # A run-now row, or a redelivered message (acks_late), already exists under this task id.
        if JobRun.objects.filter(task_id=task_id).update(status=JobRun.Status.RUNNING, started_at=now, error=""):
            return
        trigger = JobRun.Trigger.BEAT if beat_name else JobRun.Trigger.CODE
        with transaction.atomic():  # a savepoint: a lost race on task_id must not break the caller's transaction
            JobRun.objects.create(
                job=job, task=task.name, task_id=task_id, trigger=trigger, status=JobRun.Status.RUNNING, started_at=now
            )
    except IntegrityError:
        JobRun.objects.filter(task_id=task_id).update(status=JobRun.Status.RUNNING, started_at=now)
    except DatabaseError:
        # Recording is bookkeeping: the job itself must run even when this write fails.
        logger.exception("Could not record the start of %s (%s)", job, task_id)


_FINAL = {"SUCCESS": JobRun.Status.SUCCESS, "FAILURE": JobRun.Status.FAILURE, "RETRY": JobRun.Status.RETRY}


@task_postrun.connect(dispatch_uid="backoffice.job_finished")
def job_finished(
    sender: Task | None = None,
    task_id: str = "",
    task: Task | None = None,
    retval: Any = None,
    state: str = "",
    **kwargs: Any,
) -> None:
    if task is None:
        return
    status = _FINAL.get(state, JobRun.Status.FAILURE)
    fields: dict[str, Any] = {"status": status, "finished_at": timezone.now()}
    reported = retval.get("error") if status == JobRun.Status.SUCCESS and isinstance(retval, dict) else None
    if reported:
        # A job that records its failure instead of raising it (the Dialfire import: the next run retries) still
        # failed: the job list and the dashboard say so, beside the integration's own failure count.
        fields.update(status=JobRun.Status.FAILURE, result=_summary(retval), error=str(reported)[:2000])
    elif status == JobRun.Status.SUCCESS:
        fields["result"] = _summary(retval)
    else:
        fields["error"] = f"{type(retval).__name__}: {retval}"[:2000]
    try:
        run = JobRun.objects.filter(task_id=task_id).only("id", "job").first()
        if run is None:
            return  # not a scheduled job (job_started records those only)
        JobRun.objects.filter(pk=run.pk).update(**fields)
        if fields["status"] == JobRun.Status.SUCCESS:
            job_runs_prune(job=run.job)
    except DatabaseError:
        logger.exception("Could not record the end of task %s", task_id)


def job_runs_prune(*, job: str) -> int:
    """Delete a job's runs older than JOB_RUN_KEEP_DAYS. Called right after a success, so the job's latest success
    (which the dashboard shows) is never among them; run-now rows stay as the audit of who started what."""
    cutoff = timezone.now() - timedelta(days=settings.JOB_RUN_KEEP_DAYS)
    deleted, _ = JobRun.objects.filter(job=job, started_at__lt=cutoff, requested_by__isnull=True).delete()
    return deleted
