"""Retention: failed-login records (django-axes) are pruned after 30 days, never while they still lock an account;
expired sessions are cleared; every retention job is on Beat's schedule."""

from datetime import timedelta

import pytest
import time_machine
from allauth.account.models import EmailAddress
from axes.models import AccessAttempt, AccessFailureLog
from django.conf import settings as django_settings
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client
from django.utils import timezone

from accounts.services import failed_logins_prune
from accounts.tasks import clear_expired_sessions_task, prune_failed_logins_task
from jsn.celery import app
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _fail_logins(email: str, times: int) -> Client:
    client = Client()
    for i in range(times):
        client.post("/accounts/login/", {"login": email, "password": f"wrong-{i}"})
    return client


def _locked(email: str) -> bool:
    response = Client().post("/accounts/login/", {"login": email, "password": PASSWORD})
    return response.status_code == 429


@pytest.fixture
def victim():
    user = UserFactory(email="victim@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


def _row(model, username: str, at) -> int:
    """A stored record as django-axes writes it, dated `at` (axes stamps the time itself, so it is moved after)."""
    fields = {"username": username, "ip_address": "203.0.113.9", "user_agent": "x", "http_accept": "*/*"}
    if model is AccessAttempt:
        fields.update(get_data="", post_data="", failures_since_start=2)
    row = model.objects.create(path_info="/accounts/login/", **fields)
    model.objects.filter(pk=row.pk).update(attempt_time=at)
    return row.pk


# django-axes itself deletes attempts older than the lockout window whenever a login fails; this job is what
# removes them (and the failure log) when no later failure comes, so the rows below are written directly.


def test_old_failed_logins_are_pruned_recent_ones_and_live_lockouts_stay(settings, victim):
    settings.RETENTION_FAILED_LOGIN_DAYS = 30
    _fail_logins("victim@example.com", 5)  # locked out now, through the real login form
    assert _locked("victim@example.com")
    now = timezone.now()
    old = _row(AccessAttempt, "old@example.com", now - timedelta(days=30, minutes=1))
    recent = _row(AccessAttempt, "recent@example.com", now - timedelta(days=30) + timedelta(minutes=1))
    old_log = _row(AccessFailureLog, "old@example.com", now - timedelta(days=30, minutes=1))
    recent_log = _row(AccessFailureLog, "recent@example.com", now - timedelta(days=30) + timedelta(minutes=1))

    with time_machine.travel(now, tick=False):
        report = prune_failed_logins_task()

    assert report == {"attempts_deleted": 1, "failure_logs_deleted": 1, "attempts_kept_locking": False}
    assert not AccessAttempt.objects.filter(pk=old).exists()
    assert AccessAttempt.objects.filter(pk=recent).exists()
    assert not AccessFailureLog.objects.filter(pk=old_log).exists()
    assert AccessFailureLog.objects.filter(pk=recent_log).exists()
    assert AccessAttempt.objects.filter(username="victim@example.com").exists()
    assert _locked("victim@example.com")  # pruning never lifts a lockout

    with time_machine.travel(now, tick=False):
        again = failed_logins_prune()
    assert (again.attempts_deleted, again.failure_logs_deleted) == (0, 0)  # idempotent


def test_a_lockout_window_longer_than_the_retention_wins(settings, victim):
    """LOGIN_LOCKOUT_HOURS of 45 days with 30 days' retention: a 35-day-old lockout still holds after pruning."""
    settings.RETENTION_FAILED_LOGIN_DAYS = 30
    settings.AXES_COOLOFF_TIME = 45 * 24  # hours
    with time_machine.travel(timezone.now() - timedelta(days=35), tick=False):
        _fail_logins("victim@example.com", 5)
    assert _locked("victim@example.com")
    expired = _row(AccessAttempt, "expired@example.com", timezone.now() - timedelta(days=46))

    report = failed_logins_prune()

    assert report.attempts_deleted == 1
    assert not AccessAttempt.objects.filter(pk=expired).exists()
    assert AccessAttempt.objects.filter(username="victim@example.com").exists()
    assert _locked("victim@example.com")


def test_lockouts_that_never_expire_keep_their_attempts(settings, victim):
    settings.AXES_COOLOFF_TIME = None  # lockouts until staff lift them
    with time_machine.travel(timezone.now() - timedelta(days=400), tick=False):
        _fail_logins("victim@example.com", 5)
    _row(AccessFailureLog, "victim@example.com", timezone.now() - timedelta(days=400))
    report = failed_logins_prune()
    assert (report.attempts_deleted, report.failure_logs_deleted, report.attempts_kept_locking) == (0, 1, True)
    assert _locked("victim@example.com")


def test_expired_sessions_are_cleared_live_ones_stay(victim):
    live = Client()
    live.force_login(victim)
    stale = SessionStore()
    stale["note"] = "left over"
    stale.set_expiry(timezone.now() - timedelta(days=1))
    stale.create()

    clear_expired_sessions_task()

    assert not SessionStore().exists(stale.session_key)
    assert live.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(
    "task",
    [
        "cases.tasks.delete_orphaned_document_files_task",
        "leads.tasks.delete_orphaned_lead_pdfs_task",
        "billing.tasks.drop_old_webhook_bodies_task",
        "accounts.tasks.prune_failed_logins_task",
        "accounts.tasks.clear_expired_sessions_task",
    ],
)
def test_every_retention_job_runs_daily_on_beat(task):
    (entry,) = [e for e in django_settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == task]
    schedule = entry["schedule"]
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1 and len(schedule.day_of_month) == 31
    app.loader.import_default_modules()
    assert task in app.tasks  # a worker knows the name Beat sends
