"""S6 and the response headers every page carries."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _production_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k
        not in (
            "DEBUG",
            "DEMO_MODE",
            "DJANGO_SETTINGS_MODULE",
            "SECURE_COOKIES",
            "ALLOWED_HOSTS",
            "DJANGO_ALLOW_ASYNC_UNSAFE",
        )
    }
    env.update(
        DJANGO_SETTINGS_MODULE="jsn.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="jsn.example.com",
        SITE_URL="https://jsn.example.com",
        SECURE_SSL_REDIRECT="1",
        DATABASE_URL="sqlite:////tmp/jsn-check-deploy.sqlite3",
    )
    env.update(extra)
    return env


def test_check_deploy_passes_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_site_url_is_left_at_the_local_default():
    # Empty is unset, and outweighs a SITE_URL or BIND in a developer's .env (read only for unset variables).
    env = _production_env(SITE_URL="", BIND="")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "(jsn.W001) SITE_URL is http://127.0.0.1:8000" in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = _production_env()
    env.pop("SECRET_KEY")
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


@pytest.mark.django_db
def test_pages_carry_security_headers(client, subscriber):
    client.force_login(subscriber)
    response = client.get("/cases/")
    csp = response["Content-Security-Policy"]
    script_src = next(part for part in csp.split(";") if part.strip().startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


def test_no_inline_scripts_in_our_templates():
    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for chunk in text.split("<script")[1:]:
            head = chunk.split(">", 1)[0]
            if "src=" not in head and "json_script" not in chunk[:40]:
                offenders.append(str(path.relative_to(ROOT)))
        if " onclick=" in text or " onchange=" in text or " onsubmit=" in text:
            offenders.append(f"{path.relative_to(ROOT)} (inline handler)")
    assert not offenders, offenders


def test_debug_refuses_to_start_with_live_stripe_keys():
    env = _production_env(STRIPE_LIVE_SECRET_KEY="sk_live_not_a_real_key")
    env["DEBUG"] = "1"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0
    assert "DEBUG must be off when live Stripe keys are configured" in result.stderr
