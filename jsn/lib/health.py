"""Health checks shared by the public /health/ probe and the staff system-health API. Each one is bounded in time
and never raises: a broken dependency is reported, not propagated."""

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.utils import DatabaseError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

logger = logging.getLogger(__name__)

HEARTBEAT_CACHE_KEY = "jsn:beat:last-heartbeat"
OK, DOWN, WARNING, OFF, UNKNOWN = "ok", "down", "warning", "off", "unknown"
CHECK_STATUSES = (OK, DOWN, WARNING, OFF, UNKNOWN)


@dataclass(frozen=True)
class Check:
    status: str  # ok | down | warning | off | unknown
    detail: str = ""
    at: datetime | None = None  # when the thing was last seen working (heartbeat, webhook, poll), if it applies
    items: tuple[str, ...] = field(default_factory=tuple)  # e.g. the workers that answered


def check_database() -> Check:
    started = time.monotonic()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Check(DOWN, f"{type(exc).__name__}")
    return Check(OK, f"answered in {(time.monotonic() - started) * 1000:.0f} ms")


def check_cache() -> Check:
    try:
        cache.set("jsn:health", "ok", timeout=10)
        ok = cache.get("jsn:health") == "ok"
    except Exception as exc:  # noqa: BLE001 - any cache client error means "down" here
        return Check(DOWN, type(exc).__name__)
    return Check(OK) if ok else Check(DOWN, "a value written was not read back")


def last_heartbeat() -> datetime | None:
    """When jsn.tasks.heartbeat_task last ran (Beat sends it every minute, a worker runs it). Raises on cache errors."""
    value = cache.get(HEARTBEAT_CACHE_KEY)
    return parse_datetime(value) if value else None


def check_beat(*, now: datetime | None = None) -> Check:
    """Beat's last tick as the heartbeat proves it: it needs Beat to send and a worker to run the task."""
    now = now or timezone.now()
    try:
        tick = last_heartbeat()
    except Exception as exc:  # noqa: BLE001
        return Check(UNKNOWN, f"cache unreadable ({type(exc).__name__})")
    if tick is None:
        return Check(DOWN, "no heartbeat recorded yet")
    age = (now - tick).total_seconds()
    if age > settings.HEARTBEAT_STALE_SECONDS:
        return Check(DOWN, f"last heartbeat {age:.0f} s ago", at=tick)
    return Check(OK, f"last heartbeat {age:.0f} s ago", at=tick)


def check_celery_workers(*, timeout: float | None = None) -> Check:
    """Ask every worker to answer a ping over the broker; waits at most `timeout` seconds for answers (plus at most
    one broker connection attempt of the same length), so a dead broker or worker never hangs the caller."""
    from jsn.celery import app

    timeout = settings.CELERY_PING_TIMEOUT_SECONDS if timeout is None else timeout
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
            replies = app.control.ping(timeout=timeout, connection=conn)
    except Exception as exc:  # noqa: BLE001 - a broker that refuses, times out or cannot broadcast
        logger.warning("Celery ping failed: %s", exc)
        return Check(UNKNOWN if settings.CELERY_BROKER_URL.startswith("filesystem") else DOWN, type(exc).__name__)
    workers = tuple(sorted(name for reply in replies for name in reply))
    if not workers:
        return Check(DOWN, f"no worker answered within {timeout:g} s")
    return Check(OK, f"{len(workers)} worker(s) answered", items=workers)
