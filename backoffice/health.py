"""The staff system-health report: the public probe's checks (jsn.lib.health) plus workers, Beat and integrations."""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from backoffice import metrics
from jsn.lib import health
from jsn.lib.health import DOWN, OFF, OK, UNKNOWN, WARNING, Check

OVERALL_STATUSES = ("ok", "degraded", "down")


@dataclass(frozen=True)
class StripeCheck(Check):
    configured: bool = False
    webhooks_received_24h: int = 0
    webhooks_failed_24h: int = 0


@dataclass(frozen=True)
class DialfireCheck(Check):
    configured: bool = False
    last_success_at: datetime | None = None
    last_error: str = ""


@dataclass(frozen=True)
class SystemHealth:
    status: str  # ok | degraded | down
    checked_at: datetime
    database: Check
    cache: Check
    celery_workers: Check
    beat: Check
    stripe: StripeCheck
    dialfire: DialfireCheck


# The import's own states mapped onto a check's.
_DIALFIRE = {"ok": OK, "off": OFF, "never": WARNING, "stale": WARNING, "failing": DOWN}


def stripe_check(*, now: datetime) -> StripeCheck:
    hooks = metrics.webhook_health(now=now)
    if not hooks.stripe_configured:
        status, detail = OFF, "no Stripe secret key: local billing only"
    elif hooks.failed_24h:
        status, detail = WARNING, f"{hooks.failed_24h} webhook(s) failed in the last 24 h (Stripe retries them)"
    else:
        status, detail = OK, f"{hooks.received_24h} webhook(s) in the last 24 h"
    return StripeCheck(
        status=status,
        detail=detail,
        at=hooks.last_received_at,
        configured=hooks.stripe_configured,
        webhooks_received_24h=hooks.received_24h,
        webhooks_failed_24h=hooks.failed_24h,
    )


def dialfire_check(*, now: datetime) -> DialfireCheck:
    source = metrics.dialfire_health(now=now)
    detail = {
        "ok": "polled on schedule",
        "off": "DIALFIRE_BASE_URL not set",
        "never": "no successful poll yet",
        "stale": "no poll for more than 45 minutes",
        "failing": f"{source.consecutive_failures} failed poll(s) in a row",
    }[source.status]
    return DialfireCheck(
        status=_DIALFIRE[source.status],
        detail=detail,
        at=source.last_poll_at,
        configured=source.configured,
        last_success_at=source.last_success_at,
        last_error=source.last_error,
    )


def system_health(*, now: datetime | None = None) -> SystemHealth:
    """Bounded in time: the worker ping waits CELERY_PING_TIMEOUT_SECONDS at most; the rest are single queries."""
    now = now or timezone.now()
    checks = {
        "database": health.check_database(),
        "cache": health.check_cache(),
        "celery_workers": health.check_celery_workers(),
        "beat": health.check_beat(now=now),
        "stripe": stripe_check(now=now),
        "dialfire": dialfire_check(now=now),
    }
    if checks["database"].status != OK:
        status = "down"
    elif any(check.status in (DOWN, WARNING, UNKNOWN) for check in checks.values()):
        status = "degraded"
    else:
        status = "ok"
    return SystemHealth(status=status, checked_at=now, **checks)
