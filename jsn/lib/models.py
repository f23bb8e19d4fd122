"""Shared model building blocks."""

from typing import ClassVar

from django.db import models


class AppendOnlyQuerySet(models.QuerySet):
    """Refuses bulk edits that the model's save()/delete() guards would not see."""

    def _refuse(self) -> Exception:
        return self.model.append_only_error(self.model.APPEND_ONLY_MESSAGE)

    def update(self, **kwargs: object) -> int:
        raise self._refuse()

    def delete(self) -> tuple[int, dict[str, int]]:
        raise self._refuse()

    def bulk_update(self, objs: object, fields: object, batch_size: int | None = None) -> int:
        raise self._refuse()


class AppendOnlyModel(models.Model):
    """Rows are inserted and never changed or deleted from the application (audit trails, ledger lines).

    Subclasses name the error to raise and its message. A PostgreSQL trigger in each app's migrations enforces the
    same for raw SQL.
    """

    APPEND_ONLY_MESSAGE: ClassVar[str]
    append_only_error: ClassVar[type[Exception]]

    objects = AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: object, **kwargs: object) -> None:
        if not self._state.adding:
            raise self.append_only_error(self.APPEND_ONLY_MESSAGE)
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise self.append_only_error(self.APPEND_ONLY_MESSAGE)
