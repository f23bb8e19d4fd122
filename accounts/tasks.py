"""Celery adapters for account jobs."""

from dataclasses import asdict

from celery import shared_task

from accounts import services


@shared_task
def prune_failed_logins_task() -> dict[str, int | bool]:
    """Daily: delete failed-login records older than RETENTION_FAILED_LOGIN_DAYS (never inside a lockout window)."""
    return asdict(services.failed_logins_prune())


@shared_task
def clear_expired_sessions_task() -> None:
    """Daily: delete expired sessions."""
    services.sessions_expired_clear()
