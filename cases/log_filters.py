"""Logging filters. Imported by settings.LOGGING before apps load: no models here."""

import logging
import re

# Paths that carry a download token; used to keep the token out of Django's request, CSRF and server logs.
_TOKEN_IN_PATH = re.compile(r"(/documents/download/)[^/\s?\"']+")


class RedactDownloadTokens(logging.Filter):
    """A logging filter (settings.LOGGING) that replaces download tokens in a record's message with [redacted]."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "/documents/download/" in message:
            record.msg = _TOKEN_IN_PATH.sub(r"\1[redacted]", message)
            record.args = None
        return True
