"""A fake e-mail delivery that several processes can share: each message is one JSON line appended to a file.

For tests that run the app as real processes (tests/stress: gunicorn and a Celery worker), where Django's locmem
outbox is out of reach. Set EMAIL_BACKEND = "tests.fakes.mailbox.FileMailbox" and JSN_FAKE_MAILBOX to the path.
Appends are serialised with flock, so lines from several workers never interleave.
"""

import fcntl
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


def mailbox_path() -> Path:
    return Path(os.environ["JSN_FAKE_MAILBOX"])


class FileMailbox(BaseEmailBackend):
    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        lines = [
            json.dumps({"to": list(m.to), "subject": m.subject, "body": m.body, "at": time.time(), "pid": os.getpid()})
            + "\n"
            for m in email_messages
        ]
        with mailbox_path().open("a", encoding="utf-8") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            f.write("".join(lines))
            f.flush()
            os.fsync(f.fileno())
        return len(lines)


def read_mailbox(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
