import multiprocessing
import os
import threading
import traceback
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


def run_in_processes(n_callers: int, work: Callable[[int], Any], timeout: float = 180) -> list[Any]:
    """Run work(i) for i in range(n_callers) at once, each in a forked child process with its own database
    connection, the way a web server's worker processes run; return the results in order.

    Why not threads: callers that are threads of this one process share its GIL with every other caller. A caller
    that holds a row lock needs the GIL back after each of its round trips, and on a loaded 2-core machine 31
    other threads ahead of it stretched a few-millisecond transaction past the 1–2 s lock waits (seen in CI: one
    423 in 1,024 calls). A web server never shares one interpreter between concurrent requests' transactions
    like that. A forked child inherits everything the test set up (monkeypatches, settings, rows committed by
    the test) and leaves through os._exit, so no pytest teardown runs twice."""
    connections.close_all()  # a child must never use the parent's socket; each opens its own
    ctx = multiprocessing.get_context("fork")
    queue = ctx.SimpleQueue()

    def child(i: int) -> None:
        try:
            result: tuple[str, Any] = ("ok", work(i))
        except BaseException:  # noqa: BLE001 - reported to the test below
            result = ("error", traceback.format_exc())
        finally:
            connections.close_all()
        queue.put((i, *result))

    processes = [ctx.Process(target=child, args=(i,), name=f"caller-{i}", daemon=True) for i in range(n_callers)]
    for p in processes:
        p.start()
    results: list[Any] = [None] * n_callers
    errors: list[str] = []
    for _ in processes:  # read before joining: a child blocks on a full pipe until its result is read
        i, kind, value = queue.get()
        if kind == "ok":
            results[i] = value
        else:
            errors.append(f"caller {i}: {value}")
    for p in processes:
        p.join(timeout)
        assert p.exitcode == 0, f"{p.name} exited with {p.exitcode} (pid {p.pid}, parent {os.getpid()})"
    assert not errors, "\n".join(errors)
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
