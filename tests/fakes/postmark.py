"""FakePostmark: Postmark's send API and its tracking webhooks, for the e-mail tests (no network).

The real anymail Postmark backend (`anymail.backends.postmark.EmailBackend`) sends through `requests`; registered
with the `responses` library, this fake answers `POST https://api.postmarkapp.com/email` as Postmark documents it:
the `X-Postmark-Server-Token` header is checked (401, ErrorCode 10), a recipient marked inactive is refused
(422, ErrorCode 406), anything else is accepted with a fresh `MessageID` (a UUID) and kept in `sent`.

It then produces the webhook bodies Postmark posts for that message — Delivery, Bounce and Open records with the
fields of Postmark's webhook documentation — which the tests post to our `/anymail/postmark/tracking/` URL with or
without the HTTP basic-auth credentials Postmark would be configured with.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

API_URL = "https://api.postmarkapp.com/"
SERVER_TOKEN = "fake-postmark-server-token"
SERVER_ID = 23
HOOK_USER, HOOK_PASSWORD = "jsn-test-hook", "test-webhook-password"  # as in jsn/settings_test.py


def _postmark_time(at: datetime) -> str:
    """Postmark's ISO 8601 with 7 fractional digits, e.g. 2026-03-02T08:00:01.0000000Z."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


@dataclass
class SentMessage:
    message_id: str
    to: str
    subject: str
    payload: dict[str, Any]

    @property
    def attachments(self) -> list[tuple[str, bytes, str]]:
        return [
            (a["Name"], base64.b64decode(a["Content"]), a["ContentType"]) for a in self.payload.get("Attachments", [])
        ]

    def header(self, name: str) -> str | None:
        return next((h["Value"] for h in self.payload.get("Headers", []) if h["Name"].lower() == name.lower()), None)


@dataclass
class FakePostmark:
    sent: list[SentMessage] = field(default_factory=list)
    inactive: set[str] = field(default_factory=set)
    _bounce_ids: itertools.count = field(default_factory=lambda: itertools.count(4323372036854775807))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback("POST", re.compile(re.escape(API_URL) + r"email$"), callback=self._send)

    def _send(self, request: Any) -> tuple[int, dict[str, str], str]:
        headers = {"Content-Type": "application/json"}
        if request.headers.get("X-Postmark-Server-Token") != SERVER_TOKEN:
            body = {"ErrorCode": 10, "Message": "No Account or Server API tokens were supplied in the HTTP headers."}
            return 401, headers, json.dumps(body)
        payload = json.loads(request.body)
        to = payload.get("To", "")
        if not to or not payload.get("From"):
            return 422, headers, json.dumps({"ErrorCode": 300, "Message": "Invalid email request"})
        if to.lower() in self.inactive:
            body = {
                "ErrorCode": 406,
                "Message": "You tried to send to a recipient that has been marked as inactive. "
                f"Found inactive addresses: {to}. Inactive recipients are ones that have generated a hard bounce, "
                "a spam complaint, or a manual suppression.",
            }
            return 422, headers, json.dumps(body)
        with self._lock:
            message = SentMessage(str(uuid.uuid4()), to, payload.get("Subject", ""), payload)
            self.sent.append(message)
        body = {
            "To": to,
            "SubmittedAt": _postmark_time(datetime.now(UTC)),
            "MessageID": message.message_id,
            "ErrorCode": 0,
            "Message": "OK",
        }
        return 200, headers, json.dumps(body)

    # ------------------------------------------------------------------ webhook bodies, as Postmark posts them
    def _message(self, message_id: str) -> SentMessage:
        return next(m for m in self.sent if m.message_id == message_id)

    def delivery_event(self, message_id: str, *, at: datetime) -> dict[str, Any]:
        message = self._message(message_id)
        return {
            "RecordType": "Delivery",
            "ServerID": SERVER_ID,
            "MessageStream": "outbound",
            "MessageID": message_id,
            "Recipient": message.to,
            "Tag": "",
            "DeliveredAt": _postmark_time(at),
            "Details": "Test delivery webhook details",
            "Metadata": message.payload.get("Metadata", {}),
        }

    def open_event(self, message_id: str, *, at: datetime, first_open: bool = True) -> dict[str, Any]:
        message = self._message(message_id)
        return {
            "RecordType": "Open",
            "MessageStream": "outbound",
            "FirstOpen": first_open,
            "Client": {"Name": "Chrome 35.0.1916.153", "Company": "Google", "Family": "Chrome"},
            "OS": {"Name": "OS X 10.7 Lion", "Company": "Apple Computer, Inc.", "Family": "OS X 10"},
            "Platform": "WebMail",
            "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) AppleWebKit/537.36",
            "Geo": {"CountryISOCode": "DE", "Country": "Germany", "City": "Berlin", "IP": "188.2.95.4"},
            "MessageID": message_id,
            "Metadata": message.payload.get("Metadata", {}),
            "ReceivedAt": _postmark_time(at),
            "Tag": "",
            "Recipient": message.to,
        }

    def bounce_event(self, message_id: str, *, at: datetime, type_: str = "HardBounce") -> dict[str, Any]:
        message = self._message(message_id)
        type_codes = {"HardBounce": (1, "Hard bounce"), "SoftBounce": (4096, "Soft bounce"), "Transient": (2, "")}
        code, name = type_codes[type_]
        return {
            "RecordType": "Bounce",
            "MessageStream": "outbound",
            "ID": next(self._bounce_ids),
            "Type": type_,
            "TypeCode": code,
            "Name": name,
            "Tag": "",
            "MessageID": message_id,
            "Metadata": message.payload.get("Metadata", {}),
            "ServerID": SERVER_ID,
            "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
            "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
            "Email": message.to,
            "From": message.payload.get("From", ""),
            "BouncedAt": _postmark_time(at),
            "DumpAvailable": True,
            "Inactive": type_ == "HardBounce",
            "CanActivate": True,
            "Subject": message.subject,
        }


def basic_auth(user: str = HOOK_USER, password: str = HOOK_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture
def fake_postmark(settings):
    """Lead e-mails go through anymail's real Postmark backend to a FakePostmark."""
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    settings.ANYMAIL = {
        **settings.ANYMAIL,
        "POSTMARK_SERVER_TOKEN": SERVER_TOKEN,
        "WEBHOOK_SECRET": f"{HOOK_USER}:{HOOK_PASSWORD}",
    }
    fake = FakePostmark()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        fake.install(rsps)
        yield fake
