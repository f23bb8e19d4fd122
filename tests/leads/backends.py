"""E-mail backends that fail the way real ones do, for the sending tests (the boundary, not our code)."""

import os
import threading
import time
import uuid

from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend


class SimulatedCrash(BaseException):
    """Stands for the worker process dying mid-send: nothing in our code may catch it."""


class CrashAfterSendBackend(LocmemBackend):
    """Delivers the message, then 'dies' before our code learns it went out (the worst case for duplicates)."""

    crash_every = 1
    _count = 0
    _lock = threading.Lock()

    def send_messages(self, messages):
        sent = super().send_messages(messages)
        with CrashAfterSendBackend._lock:
            CrashAfterSendBackend._count += 1
            crash = CrashAfterSendBackend._count % self.crash_every == 0
        if crash:
            raise SimulatedCrash("worker killed after the SMTP hand-off")
        return sent


class RefusingBackend(LocmemBackend):
    """The provider refuses every message (e.g. SMTP 554)."""

    def send_messages(self, messages):
        raise ConnectionRefusedError("SMTP 554 transaction failed")


def outbox_pairs() -> list[tuple[str, str]]:
    """(lead number, recipient) for every e-mail handed to the backend."""
    return [(m.extra_headers["X-JSN-Lead"], m.to[0]) for m in mail.outbox]


class TimeoutAfterDataBackend(LocmemBackend):
    """The server accepts the message, then the connection times out before its final answer reaches us."""

    def send_messages(self, messages):
        super().send_messages(messages)
        raise TimeoutError("timed out waiting for the reply to DATA")


class BlockingSpoolBackend(BaseEmailBackend):
    """File-backed, for killing a real worker process at the send (L3).

    Every accepted message becomes a file in `spool_dir` — the provider's log, which survives a SIGKILL of the
    sender. On the `block_at`-th message of this process it sets `reached` (a multiprocessing Event the parent waits
    on) and then waits forever, so the parent's SIGKILL lands exactly there: after the message was accepted
    (`accept_before_block`) or before it was.
    """

    spool_dir = ""
    block_at = 0  # 0: never block
    accept_before_block = True
    reached = None
    _count = 0

    def send_messages(self, messages):
        cls = BlockingSpoolBackend
        for message in messages:
            cls._count += 1
            blocking = cls.block_at and cls._count == cls.block_at
            if blocking and not cls.accept_before_block:
                self._signal_and_wait()
            self._spool(message)
            if blocking:
                self._signal_and_wait()
        return len(messages)

    def _spool(self, message) -> None:
        name = f"{message.extra_headers['X-JSN-Delivery']}-{uuid.uuid4().hex}.msg"
        fd = os.open(os.path.join(self.spool_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, f"{message.extra_headers['X-JSN-Lead']}\n{message.to[0]}\n".encode())
        finally:
            os.close(fd)

    def _signal_and_wait(self) -> None:
        self.reached.set()
        while True:  # the parent kills this process here
            time.sleep(60)


def spool_pairs(spool_dir: str) -> list[tuple[str, str]]:
    """(lead number, recipient) of every message the spool backend accepted."""
    pairs = []
    for name in sorted(os.listdir(spool_dir)):
        with open(os.path.join(spool_dir, name)) as fh:
            lead, recipient = fh.read().split("\n")[:2]
        pairs.append((lead, recipient))
    return pairs
