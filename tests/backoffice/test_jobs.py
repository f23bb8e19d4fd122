"""Scheduled jobs: synced from code, every run recorded by Celery's signals, "run now" only for the safe ones."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from celery import shared_task
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import LogEntry
from django.core.cache import cache
from django.core.management import call_command
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from backoffice import metrics
from backoffice.jobs import RUN_NOW_ALLOWED, RUN_NOW_REFUSED, JobError, job_run_now, job_runs_prune
from backoffice.models import JobRun
from billing.models import BillingRun
from claims.tasks import expire_claims_task, notify_claim_events_task
from jsn.celery import app as celery_app
from jsn.lib.health import HEARTBEAT_CACHE_KEY
from jsn.tasks import heartbeat_task
from leads.tasks import import_dialfire_task
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=ZoneInfo("UTC"))
CHANGELIST = "/admin/django_celery_beat/periodictask/"


@shared_task(name="tests.backoffice.failing_job")
def failing_job() -> None:
    raise RuntimeError("Dialfire said 503")


@pytest.fixture(autouse=True)
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def staff(db):
    return UserFactory(email="root@example.com", is_superuser=True)


@pytest.fixture
def admin_client_(client, staff):
    client.force_login(staff)
    return client


def test_every_job_in_code_is_in_the_admin_after_migrate(settings):
    # The test database was built by `migrate`: its post_migrate hook synced the schedule.
    tasks = {task.name: task for task in PeriodicTask.objects.select_related("crontab")}
    assert set(settings.CELERY_BEAT_SCHEDULE) <= set(tasks)
    for name, entry in settings.CELERY_BEAT_SCHEDULE.items():
        assert tasks[name].task == entry["task"]
    assert (tasks["bill-daily"].crontab.hour, tasks["bill-daily"].crontab.minute) == ("0", "15")
    assert tasks["import-dialfire-leads"].crontab.minute == "*/15"


def test_sync_restores_the_code_schedule_and_keeps_staffs_on_off_choice(capsys, settings):
    task = PeriodicTask.objects.get(name="expire-claims")
    task.crontab = CrontabSchedule.objects.create(minute="7", hour="3")
    task.enabled = False
    task.save()
    PeriodicTask.objects.filter(name="heartbeat").delete()

    call_command("sync_periodic_tasks")

    task.refresh_from_db()
    assert (task.crontab.minute, task.crontab.hour) == ("*", "*")  # the code's schedule wins
    assert task.enabled is False  # staff switched it off: still off
    assert PeriodicTask.objects.filter(name="heartbeat", task="jsn.tasks.heartbeat_task").exists()
    assert f"{len(settings.CELERY_BEAT_SCHEDULE)} scheduled job(s) synced" in capsys.readouterr().out


def test_run_now_runs_the_job_through_celery_and_audits_who_asked(admin_client_, staff):
    heartbeat = PeriodicTask.objects.get(name="heartbeat")
    response = admin_client_.post(CHANGELIST, {"action": "run_now", ACTION_CHECKBOX_NAME: [heartbeat.pk]}, follow=True)
    assert response.status_code == 200
    run = JobRun.objects.get()
    assert f"“heartbeat” queued (task {run.task_id})" in response.content.decode()
    assert (run.job, run.trigger, run.status, run.requested_by) == ("heartbeat", "manual", "success", staff)
    assert run.requested_at <= run.started_at <= run.finished_at
    assert cache.get(HEARTBEAT_CACHE_KEY) == run.result.strip('"')  # the task really ran; its result is kept
    entry = LogEntry.objects.get(object_id=str(heartbeat.pk))
    assert entry.user == staff and run.task_id in entry.get_change_message()
    # The periodic-task list shows the job's last result and last success.
    listing = admin_client_.get(CHANGELIST).content.decode()
    assert run.result.replace('"', "&quot;") in listing
    assert f"{run.finished_at:%Y-%m-%d %H:%M}" in listing


def test_run_now_refuses_bill_daily_and_says_where_to_go(admin_client_):
    bill_daily = PeriodicTask.objects.get(name="bill-daily")
    warn = PeriodicTask.objects.get(name="warn-expiring-claims")
    response = admin_client_.post(
        CHANGELIST, {"action": "run_now", ACTION_CHECKBOX_NAME: [bill_daily.pk, warn.pk]}, follow=True
    )
    body = response.content.decode()
    assert "generate-daily" in body and "08:00" in body
    assert not JobRun.objects.exists()
    assert not BillingRun.objects.exists()


def test_django_celery_beats_unaudited_run_action_is_gone(admin_client_):
    body = admin_client_.get(CHANGELIST).content.decode()
    assert 'value="run_now"' in body
    assert 'value="run_tasks"' not in body
    response = admin_client_.post(
        CHANGELIST,
        {"action": "run_tasks", ACTION_CHECKBOX_NAME: [PeriodicTask.objects.get(name="bill-daily").pk]},
        follow=True,
    )
    assert response.status_code == 200  # the admin answers "no action selected"
    assert not BillingRun.objects.exists()


def test_run_now_service_checks_the_allow_list(staff, settings):
    for job in RUN_NOW_REFUSED:
        with pytest.raises(JobError):
            job_run_now(job=job, actor=staff)
    with pytest.raises(JobError):
        job_run_now(job="no-such-job", actor=staff)
    assert set(RUN_NOW_ALLOWED) <= set(settings.CELERY_BEAT_SCHEDULE)
    assert not set(RUN_NOW_ALLOWED) & set(RUN_NOW_REFUSED)
    assert set(RUN_NOW_ALLOWED) | set(RUN_NOW_REFUSED) == set(settings.CELERY_BEAT_SCHEDULE)  # each job decided


def test_a_run_sent_by_beat_is_recorded_with_its_result():
    # What django-celery-beat's scheduler sends: the entry's name in a header.
    expire_claims_task.apply_async(headers={"periodic_task_name": "expire-claims"})
    run = JobRun.objects.get()
    assert (run.job, run.trigger, run.status, run.result) == ("expire-claims", "beat", "success", "0")
    assert run.requested_by is None


def test_a_scheduled_task_queued_by_code_is_recorded_and_other_tasks_are_not():
    heartbeat_task.delay()
    notify_claim_events_task.delay([])  # not a scheduled job
    run = JobRun.objects.get()
    assert (run.job, run.trigger, run.status) == ("heartbeat", "code", "success")


def test_a_failing_job_is_recorded_with_its_error(settings):
    settings.CELERY_BEAT_SCHEDULE = {"flaky": {"task": "tests.backoffice.failing_job", "schedule": 60}}
    failing_job.apply_async(headers={"periodic_task_name": "flaky"})
    run = JobRun.objects.get()
    assert (run.job, run.status) == ("flaky", "failure")
    assert run.error == "RuntimeError: Dialfire said 503"
    assert run.finished_at is not None


def test_a_job_that_reports_its_failure_in_its_result_is_recorded_as_failed(settings):
    # The Dialfire import records Dialfire's failures instead of raising them; half configured, it fails every run.
    settings.DIALFIRE_BASE_URL, settings.DIALFIRE_TOKEN = "https://api.dialfire.invalid", ""
    import_dialfire_task.apply_async(headers={"periodic_task_name": "import-dialfire-leads"})

    run = JobRun.objects.get()
    assert (run.job, run.status) == ("import-dialfire-leads", "failure")
    assert run.error and "not configured" in run.error
    assert '"error":' in run.result  # what the job reported, kept beside the error


def test_the_dialfire_import_switched_off_is_a_successful_run_that_says_it_skipped(settings):
    settings.DIALFIRE_BASE_URL = ""
    import_dialfire_task.apply_async(headers={"periodic_task_name": "import-dialfire-leads"})
    run = JobRun.objects.get()
    assert (run.job, run.status, run.error) == ("import-dialfire-leads", "success", "")
    assert "DIALFIRE_BASE_URL is not set" in run.result


def test_old_runs_are_pruned_but_run_now_audit_rows_stay(staff, settings):
    settings.JOB_RUN_KEEP_DAYS = 14
    old = NOW - timedelta(days=20)
    for n, requested_by in enumerate([None, None, staff]):
        JobRun.objects.create(
            job="heartbeat",
            task="t",
            task_id=f"old-{n}",
            trigger="beat",
            status="success",
            started_at=old,
            finished_at=old,
            requested_by=requested_by,
        )
    JobRun.objects.create(
        job="expire-claims",
        task="t",
        task_id="other",
        trigger="beat",
        status="success",
        started_at=old,
        finished_at=old,
    )
    with time_machine.travel(NOW, tick=False):
        heartbeat_task.delay()  # a success prunes its own job's old runs
    assert sorted(JobRun.objects.values_list("task_id", flat=True)) == sorted(
        ["old-2", "other", JobRun.objects.get(started_at=NOW).task_id]
    )
    with time_machine.travel(NOW, tick=False):
        assert job_runs_prune(job="heartbeat") == 0


def _run(job: str, status: str, at: datetime) -> None:
    JobRun.objects.create(
        job=job,
        task="t",
        task_id=f"{job}-{status}-{at:%H%M%S}",
        trigger="beat",
        status=status,
        started_at=at,
        finished_at=at,
    )


def test_job_states_on_the_dashboard():
    PeriodicTask.objects.filter(name="warn-expiring-claims").update(enabled=False)
    with time_machine.travel(NOW, tick=False):
        _run("heartbeat", "success", NOW - timedelta(seconds=30))  # every minute: fine
        _run("send-due-lead-deliveries", "success", NOW - timedelta(minutes=30))  # every minute: 30 missed
        _run("expire-claims", "success", NOW - timedelta(hours=2))
        _run("expire-claims", "failure", NOW - timedelta(minutes=55))
        _run("billing-reconcile", "success", NOW - timedelta(hours=7))  # daily at 04:45: ran today at 05:00
        _run("check-plz-subscriptions", "success", NOW - timedelta(hours=9))  # daily at 03:30: today's run missed
        JobRun.objects.create(job="import-dialfire-leads", task="t", task_id="q", trigger="manual", status="queued")
        states = {job.name: job for job in metrics.job_statuses()}
    assert states["heartbeat"].state == "ok"
    assert states["send-due-lead-deliveries"].state == "late"
    assert states["expire-claims"].state == "failing"
    assert states["expire-claims"].last_success_at == NOW - timedelta(hours=2)
    assert states["billing-reconcile"].state == "ok"
    assert states["check-plz-subscriptions"].state == "late"
    assert states["import-dialfire-leads"].state == "running"
    assert states["bill-daily"].state == "never"
    assert states["warn-expiring-claims"].state == "disabled"
    assert states["heartbeat"].run_now and not states["bill-daily"].run_now


@pytest.mark.parametrize("runs", [5, 400])
def test_job_admin_lists_run_a_fixed_number_of_queries(admin_client_, django_assert_num_queries, runs):
    for n in range(runs):
        _run(("heartbeat", "expire-claims")[n % 2], "success", NOW - timedelta(minutes=n))
    # 1 session, 2 user, 3 filtered count, 4 total count, 5 periodic tasks with their schedules and latest runs
    # (subqueries), 6 + 7 django-celery-beat's date hierarchy (range, years), 8 its task filter's distinct names
    with django_assert_num_queries(8):
        assert admin_client_.get(CHANGELIST).status_code == 200
    # 1 session, 2 user, 3 filtered count, 4 total count, 5 the page of runs with requested_by,
    # 6 + 7 the date hierarchy (range, days), 8 the job filter's distinct names
    with django_assert_num_queries(8):
        assert admin_client_.get("/admin/backoffice/jobrun/").status_code == 200
