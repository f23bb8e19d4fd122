"""manage.py sync_periodic_tasks — copy CELERY_BEAT_SCHEDULE into the admin's periodic tasks (migrate does too)."""

from typing import Any

from django.core.management.base import BaseCommand

from backoffice.jobs import periodic_tasks_sync


class Command(BaseCommand):
    help = "Write the scheduled jobs defined in code (CELERY_BEAT_SCHEDULE) into django-celery-beat's tables."

    def handle(self, *args: Any, **options: Any) -> None:
        names = periodic_tasks_sync()
        self.stdout.write(self.style.SUCCESS(f"{len(names)} scheduled job(s) synced: {', '.join(names)}"))
