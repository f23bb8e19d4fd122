from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"

    def ready(self) -> None:
        from leads import webhooks  # noqa: F401  (connects anymail's tracking signal)
