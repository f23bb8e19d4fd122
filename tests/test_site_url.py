"""SITE_URL, the base of every link JSN sends: its default follows BIND, and system checks catch a wrong one."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

from backoffice.checks import site_url_is_an_address, site_url_is_public
from jsn.gunicorn_conf import site_url_for_bind

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("bind", "url"),
    [
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("127.0.0.1:8765", "http://127.0.0.1:8765"),
        ("localhost:9000", "http://localhost:9000"),
        ("0.0.0.0:8080", "http://127.0.0.1:8080"),
        ("[::]:8080", "http://127.0.0.1:8080"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("tcp://0.0.0.0:9000", "http://127.0.0.1:9000"),
        ("127.0.0.1:8001,0.0.0.0:9000", "http://127.0.0.1:8001"),
        ("unix:/run/jsn.sock", "http://127.0.0.1:8000"),
        ("fd://3", "http://127.0.0.1:8000"),
        ("8000", "http://127.0.0.1:8000"),
        ("", "http://127.0.0.1:8000"),
    ],
)
def test_the_default_site_url_is_where_a_browser_here_reaches_the_bind_address(bind, url):
    assert site_url_for_bind(bind) == url


def _settings_site_url(**env_vars: str) -> str:
    env = os.environ | env_vars
    code = "from django.conf import settings; print(settings.SITE_URL)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_make_run_on_another_port_sends_links_to_that_port():
    # SITE_URL empty is unset (and outweighs a SITE_URL in a developer's .env, which only fills unset variables).
    assert _settings_site_url(SITE_URL="", BIND="127.0.0.1:8765") == "http://127.0.0.1:8765"


def test_a_configured_site_url_wins_and_loses_its_trailing_slash():
    assert _settings_site_url(SITE_URL="https://jsn.example.com/", BIND="127.0.0.1:8765") == "https://jsn.example.com"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "jsn.example.com",
        "ftp://jsn.example.com",
        "https://",
        "https://jsn.example.com/app",
        "https://x:port",
        "https://jsn.example.com?",
        "https://user:secret@jsn.example.com",
    ],
)
def test_a_malformed_site_url_is_a_check_error(url):
    with override_settings(SITE_URL=url):
        errors = site_url_is_an_address()
    assert [e.id for e in errors] == ["jsn.E001"]
    assert url in errors[0].msg


@pytest.mark.parametrize("url", ["https://jsn.example.com", "http://127.0.0.1:8000", "https://jsn.example.com:8443"])
def test_a_base_address_passes(url):
    with override_settings(SITE_URL=url):
        assert site_url_is_an_address() == []


@pytest.mark.parametrize(
    ("url", "allowed", "ids"),
    [
        ("https://jsn.example.com", ["jsn.example.com"], []),
        ("https://jsn.example.com", [".example.com"], []),
        ("http://127.0.0.1:8000", ["jsn.example.com"], ["jsn.W001"]),
        ("http://localhost:8000", ["localhost"], ["jsn.W001"]),
        ("https://jsn.example.org", ["jsn.example.com"], ["jsn.W002"]),
        ("http://jsn.example.com", ["jsn.example.com"], ["jsn.W003"]),
        ("https://jsn.example.com.", ["jsn.example.com"], []),
        ("https://[2001:db8::1]", ["[2001:db8::1]"], []),
        ("https://[2001:db8::1]", ["jsn.example.com"], ["jsn.W002"]),
        ("http://[::1]:8000", ["[::1]"], ["jsn.W001"]),
    ],
)
def test_deploy_checks_warn_about_links_nobody_can_follow(url, allowed, ids):
    with override_settings(SITE_URL=url, ALLOWED_HOSTS=allowed, DEBUG=False):
        assert [w.id for w in site_url_is_public()] == ids


def test_deploy_checks_leave_a_debug_machine_alone():
    with override_settings(SITE_URL="http://127.0.0.1:8000", DEBUG=True):
        assert site_url_is_public() == []


def _gunicorn_config(*args: str, **env_vars: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("BIND", "WEB_CONCURRENCY")} | env_vars
    result = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "gunicorn"), "jsn.wsgi", "-c", "jsn/gunicorn_conf.py", "--print-config", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _setting(config: str, name: str) -> str:
    match = re.search(rf"^{name}\s+=\s+(.*)$", config, re.MULTILINE)
    assert match, config
    return match.group(1)


def test_gunicorn_listens_where_bind_says_with_the_workers_web_concurrency_says():
    config = _gunicorn_config(BIND="127.0.0.1:8799", WEB_CONCURRENCY="3")
    assert (_setting(config, "bind"), _setting(config, "workers")) == ("['127.0.0.1:8799']", "3")
    default = _gunicorn_config(BIND="")  # unset (or BIND empty): the defaults
    assert (_setting(default, "bind"), _setting(default, "workers")) == ("['127.0.0.1:8000']", "2")
    # A command line that names them (docker-compose, the benches) still wins.
    explicit = _gunicorn_config("--bind", "0.0.0.0:8000", "--workers", "4", BIND="127.0.0.1:8799")
    assert (_setting(explicit, "bind"), _setting(explicit, "workers")) == ("['0.0.0.0:8000']", "4")
