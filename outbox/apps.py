from django.apps import AppConfig
from django.utils.module_loading import autodiscover_modules


class OutboxConfig(AppConfig):
    name = "outbox"
    verbose_name = "Outbox"

    def ready(self) -> None:
        # Each app registers its outbox handlers in its tasks module (Celery imports those too). Importing them
        # here makes every handler known in every process: the web process that enqueues, the worker and a shell.
        autodiscover_modules("tasks")
