"""A Stripe that accepts connections and never answers: every call gives up after its bounded attempts.

A real socket on 127.0.0.1 stands in for api.stripe.com (no `responses` fake here: the point is the HTTP client's
own timeouts). The SDK's default waits 80 s per attempt, three attempts: a subscriber pressing "Add / change card"
would wait four minutes, far past gunicorn's 30 s worker timeout.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import stripe
import stripe._http_client
from djstripe.models import Customer

from billing import stripe_gateway
from tests.fakes.stripe import TEST_SECRET_KEY

ATTEMPT_SECONDS = 0.5
ROOT = Path(__file__).resolve().parent.parent.parent


class SilentServer:
    """Accepts every connection, reads nothing, answers nothing, keeps it open until closed."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=16)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


@pytest.fixture
def silent_stripe(settings, monkeypatch) -> Iterator[SilentServer]:
    server = SilentServer()
    settings.STRIPE_LIVE_MODE = False
    settings.STRIPE_TEST_SECRET_KEY = TEST_SECRET_KEY
    settings.STRIPE_ENABLED = True
    # Changing these rebuilds the SDK's HTTP client (billing.apps); the fixture's undo rebuilds it again.
    settings.STRIPE_CONNECT_TIMEOUT_SECONDS = ATTEMPT_SECONDS
    settings.STRIPE_TIMEOUT_SECONDS = ATTEMPT_SECONDS
    monkeypatch.setattr(stripe, "api_base", f"http://127.0.0.1:{server.port}")
    # The SDK's retries stay on; only their back-off is made instant.
    monkeypatch.setattr(stripe._http_client.HTTPClient, "_sleep_time_seconds", lambda self, n, response=None: 0.0)
    try:
        yield server
    finally:
        server.close()


def test_a_call_to_a_silent_stripe_gives_up_after_three_bounded_attempts(silent_stripe):
    started = time.monotonic()
    with pytest.raises(stripe_gateway.StripeUnavailable):
        stripe_gateway.subscription_retrieve(stripe_subscription_id="sub_silent")
    elapsed = time.monotonic() - started

    assert len(silent_stripe.connections) == 3  # the first attempt and the SDK's two retries
    assert elapsed < 3 * ATTEMPT_SECONDS + 5  # not 3 × 80 s


def test_add_card_while_stripe_is_silent_answers_with_a_message_and_writes_nothing(silent_stripe, client, subscriber):
    client.force_login(subscriber)

    started = time.monotonic()
    response = client.post("/billing/card/", follow=True)
    elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert response.redirect_chain == [("/billing/", 302)]
    assert "Stripe did not answer" in response.content.decode()
    assert elapsed < 3 * ATTEMPT_SECONDS + 5
    assert len(silent_stripe.connections) == 3
    assert not Customer.objects.filter(subscriber=subscriber).exists()


def test_the_client_uses_the_configured_timeouts(settings):
    settings.STRIPE_CONNECT_TIMEOUT_SECONDS = 3.0
    settings.STRIPE_TIMEOUT_SECONDS = 7.5

    client = stripe.default_http_client
    assert isinstance(client, stripe.RequestsClient)
    assert client._timeout == (3.0, 7.5)


def test_at_startup_every_stripe_call_gets_the_configured_timeouts(settings):
    client = stripe.default_http_client  # made in billing's ready(); no setting changed here
    assert isinstance(client, stripe.RequestsClient)
    assert client._timeout == (settings.STRIPE_CONNECT_TIMEOUT_SECONDS, settings.STRIPE_TIMEOUT_SECONDS) == (4.0, 8.0)
    assert settings.STRIPE_CALL_MAX_SECONDS == 38 and settings.WEB_TIMEOUT_SECONDS == 60


def _check(**env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(DJANGO_SETTINGS_MODULE="jsn.settings", **env_vars)
    return subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("value", ["0", "121"])
def test_an_out_of_range_timeout_stops_startup(value):
    result = _check(STRIPE_TIMEOUT_SECONDS=value)
    assert result.returncode != 0
    assert "STRIPE_TIMEOUT_SECONDS must be more than 0 and at most 120" in result.stderr


def test_timeouts_a_silent_stripe_would_outlive_the_web_worker_with_stop_startup():
    too_long = _check(STRIPE_TIMEOUT_SECONDS="20")  # 3 x (4 + 20) + 2 = 74 s against a 60 s worker
    longer_worker = _check(STRIPE_TIMEOUT_SECONDS="20", WEB_TIMEOUT_SECONDS="90")

    assert too_long.returncode != 0 and "must be at least 10 s under WEB_TIMEOUT_SECONDS (60 s)" in too_long.stderr
    assert longer_worker.returncode == 0, longer_worker.stderr


def test_gunicorn_kills_a_request_only_after_the_web_timeout(monkeypatch):
    import importlib

    from jsn import gunicorn_conf

    assert gunicorn_conf.timeout == gunicorn_conf.WEB_TIMEOUT_DEFAULT == 60
    monkeypatch.setenv("WEB_TIMEOUT_SECONDS", "90")
    try:
        assert importlib.reload(gunicorn_conf).timeout == 90
    finally:
        monkeypatch.delenv("WEB_TIMEOUT_SECONDS")
        importlib.reload(gunicorn_conf)
