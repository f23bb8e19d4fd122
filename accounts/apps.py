from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from allauth.account.signals import password_reset

        from accounts.receivers import lift_lockout_after_password_reset

        password_reset.connect(lift_lockout_after_password_reset, dispatch_uid="accounts.lift_lockout_after_reset")
