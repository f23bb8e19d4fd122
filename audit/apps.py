from typing import Any

from django.apps import AppConfig, apps
from django.db.models.signals import post_migrate

SUPPORT_GROUP = "Support"
CONTACT_DATA_GROUP = "Contact data access"
# What a support desk reads: every back-office model, the audit sources of the timelines, nothing it can change.
SUPPORT_VIEW_APPS = ("accounts", "cases", "claims", "billing", "leads", "djstripe", "axes", "admin")


def create_default_groups(**kwargs: Any) -> None:
    """The "Support" and "Contact data access" groups, created once when missing.

    Never re-granted afterwards: an operator who removes a permission from a group means it.
    Runs after the other apps' permissions exist (post_migrate of this app, listed after them).
    """
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    using = kwargs.get("using", "default")
    if not Group.objects.using(using).filter(name=SUPPORT_GROUP).exists():
        group = Group.objects.using(using).create(name=SUPPORT_GROUP)
        group.permissions.set(
            Permission.objects.using(using)
            .filter(content_type__app_label__in=SUPPORT_VIEW_APPS, codename__startswith="view_")
            .exclude(codename="view_contact_pii")
        )
    if not Group.objects.using(using).filter(name=CONTACT_DATA_GROUP).exists():
        group = Group.objects.using(using).create(name=CONTACT_DATA_GROUP)
        group.permissions.set(
            Permission.objects.using(using).filter(content_type__app_label="cases", codename="view_contact_pii")
        )


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit"

    def ready(self) -> None:
        post_migrate.connect(create_default_groups, sender=self, dispatch_uid="audit_default_groups")
