"""The Celery app. Beat uses django-celery-beat's database scheduler (settings.CELERY_BEAT_SCHEDULE)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "jsn.settings")

app = Celery("jsn")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
