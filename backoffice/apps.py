from typing import Any

from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps
from django.db.models.signals import post_migrate


class BackofficeConfig(AppConfig):
    default = True
    name = "backoffice"
    verbose_name = "Back office"

    def ready(self) -> None:
        # checks: the SITE_URL system checks; jobs: connects the Celery signals that record job runs.
        from backoffice import checks, jobs  # noqa: F401

        # After every migrate: the admin lists the scheduled jobs before Beat has ever started.
        post_migrate.connect(_sync_periodic_tasks, sender=self, dispatch_uid="backoffice.sync_periodic_tasks")


def _sync_periodic_tasks(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    from django.apps import apps

    if not apps.is_installed("django_celery_beat"):
        return
    from backoffice.jobs import periodic_tasks_sync

    periodic_tasks_sync()


class JsnAdminConfig(admin_apps.AdminConfig):
    """Installed in place of django.contrib.admin: the same admin, whose home page is the operations dashboard."""

    default = False  # named explicitly in INSTALLED_APPS; "backoffice" alone means BackofficeConfig
    default_site = "backoffice.admin_site.JsnAdminSite"
