"""S4: download tokens never reach gunicorn's access log (served the way make run and docker-compose serve it)."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from jsn.lib.log_filters import redact_download_tokens

ROOT = Path(__file__).resolve().parents[2]
GUNICORN = Path(sys.executable).parent / "gunicorn"
TOKEN = "eyJ1IjoxLCJkIjo5fQ:1vQkZp:SeCrEtSiGnAtUrE0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> int:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    try:
        return urllib.request.build_opener(NoRedirect).open(url, timeout=10).status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_redactor_covers_both_download_routes_and_encoded_next_parameters():
    assert (
        redact_download_tokens(f"GET /leads/download/{TOKEN}/ HTTP/1.1") == "GET /leads/download/[redacted]/ HTTP/1.1"
    )
    assert redact_download_tokens(f"/cases/documents/download/{TOKEN}/") == "/cases/documents/download/[redacted]/"
    encoded = f"/accounts/login/?next=%2Fleads%2Fdownload%2F{TOKEN}%2F"
    assert TOKEN not in redact_download_tokens(encoded)
    assert redact_download_tokens("GET /cases/?page=2 HTTP/1.1") == "GET /cases/?page=2 HTTP/1.1"


@pytest.mark.postgres  # gunicorn's processes share the test database (anonymous attempts are logged there)
@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_never_prints_a_download_token(tmp_path):
    port = _free_port()
    log = tmp_path / "gunicorn.log"
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DATABASE_URL": database_url}
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(GUNICORN), "jsn.wsgi", "-c", "jsn/gunicorn_conf.py", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if _get(f"{base}/health/") in (200, 503):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                pytest.fail("gunicorn did not start:\n" + log.read_text())
            time.sleep(0.2)
        # Logged out: both answer with a redirect to the login page (its `next=` holds the path, encoded).
        assert _get(f"{base}/leads/download/{TOKEN}/") == 302
        assert _get(f"{base}/cases/documents/download/{TOKEN}/") == 302
        assert _get(f"{base}/accounts/login/?next=%2Fleads%2Fdownload%2F{TOKEN}%2F") == 200
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=10)
    printed = log.read_text()
    assert printed.count("download/[redacted]") + printed.count("download%2F[redacted]") == 3, printed
    assert "SeCrEtSiGnAtUrE" not in printed and "eyJ1Ijox" not in printed
