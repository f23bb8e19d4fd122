"""E-mail backends that fail the way real ones do, for the sending tests (the boundary, not our code)."""

import threading

from django.core import mail
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
