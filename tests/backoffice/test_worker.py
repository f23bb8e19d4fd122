"""With a real Celery worker on the test broker: the health check sees it answer, and "Run now" goes through it and
its signals record the run in the database; once it stops, the check says so within the ping timeout."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from backoffice.jobs import job_run_now
from backoffice.models import JobRun
from jsn.lib.health import DOWN, OK, check_celery_workers
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def _wait(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def worker():
    """One solo worker reading the test database (so its JobRun rows are visible here) and the test broker."""
    if not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.skip("needs the Redis broker (set REDIS_URL)")
    name = f"jsn-test-{uuid.uuid4().hex[:8]}@localhost"
    db = settings.DATABASES["default"]
    env = dict(
        os.environ,
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
        DJANGO_SETTINGS_MODULE="jsn.settings_test",
    )
    command = [sys.executable, "-m", "celery", "-A", "jsn", "worker", "--pool=solo", "-n", name, "--loglevel=WARNING"]
    command += ["--without-gossip", "--without-mingle"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process, name
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_health_sees_a_real_worker_and_run_now_goes_through_it(worker):
    process, name = worker
    assert _wait(lambda: name in check_celery_workers(timeout=0.5).items, 60), "the worker never answered a ping"
    check = check_celery_workers(timeout=0.5)
    assert check.status == OK and name in check.items

    staff = UserFactory(email="ops@example.com", role="staff")
    run = job_run_now(job="expire-claims", actor=staff)  # not eager here: it travels through Redis to the worker
    assert run.status == JobRun.Status.QUEUED

    def finished() -> bool:
        run.refresh_from_db()
        return run.status == JobRun.Status.SUCCESS

    assert _wait(finished, 30), f"the worker did not record the run ({run.status})"
    assert (run.trigger, run.requested_by_id, run.result) == ("manual", staff.pk, "0")
    assert run.started_at is not None and run.finished_at >= run.started_at

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=20)
    connection.close()
    started = time.monotonic()
    check = check_celery_workers(timeout=0.5)
    assert name not in check.items
    assert check.status == DOWN or check.items  # another worker on this broker would still answer
    assert time.monotonic() - started < 3
