import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection, connections

from jsn.celery import app as celery_app


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run .delay() inline, so after-commit e-mails land in mail.outbox."""
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def run_in_threads(n_threads: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) for i in range(n_threads) on real threads, each with its own database connection."""
    results: list[Any] = [None] * n_threads
    errors: list[BaseException] = []

    def target(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=target, args=(i,), name=f"worker-{i}") for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    return results


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


class Spawned(threading.Thread):
    """A thread with its own database connection, closed at the end; re-raises its error on join()."""

    def __init__(self, fn: Callable[[], Any], name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.fn = fn
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in join()
            self.error = exc
        finally:
            connections.close_all()

    def join(self, timeout: float | None = 10) -> None:
        super().join(timeout)
        assert not self.is_alive(), f"thread {self.name} is stuck"
        if self.error:
            raise self.error


def spawn(fn: Callable[[], Any], name: str = "spawned") -> Spawned:
    thread = Spawned(fn, name)
    thread.start()
    return thread
