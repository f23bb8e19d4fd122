"""Logging filters. Imported by settings.LOGGING and jsn/gunicorn_conf.py before apps load: no models here."""

import logging
import re

# Download links (documents and lead PDFs) carry a signed token in their path; so does a login redirect's
# `next=` after a logged-out click on one (URL-encoded). Neither Django's nor gunicorn's logs may keep it.
_SEP = r"(?:/|%2F)"
_TOKEN_IN_PATH = re.compile(rf"({_SEP}(?:documents|leads){_SEP}download{_SEP})[^/\s?&\"'%]+", re.IGNORECASE)
_MARKERS = ("download/", "download%2f")


def redact_download_tokens(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1[redacted]", text)


class RedactDownloadTokens(logging.Filter):
    """Replaces download tokens in a record's message with [redacted] (settings.LOGGING, gunicorn's loggers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        lowered = message.lower()
        if any(marker in lowered for marker in _MARKERS):
            record.msg = redact_download_tokens(message)
            record.args = None
        return True
