"""docker-compose.yml cannot run here (no Docker engine), so check that it names commands the project has."""

import importlib
import shlex
from pathlib import Path

import yaml
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _commands(service: dict) -> list[list[str]]:
    command = service.get("command")
    if command is None:
        return []
    argv = command if isinstance(command, list) else shlex.split(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def test_compose_has_the_five_services():
    assert set(_compose()["services"]) == {"postgres", "redis", "web", "worker", "beat"}


def test_every_app_command_exists_in_the_project():
    django_commands = get_commands()
    checked = 0
    for name in ("web", "worker", "beat"):
        for argv in _commands(_compose()["services"][name]):
            checked += 1
            if argv[:2] == ["python", "manage.py"]:
                assert argv[2] in django_commands, f"{name}: no manage.py command {argv[2]!r}"
            elif argv[0] == "gunicorn":
                module, attr = argv[1].split(":") if ":" in argv[1] else (argv[1], "application")
                assert callable(getattr(importlib.import_module(module), attr)), f"{name}: {argv[1]}"
                if "-c" in argv:  # gunicorn's config file (logging that redacts download tokens)
                    assert (ROOT / argv[argv.index("-c") + 1]).is_file(), f"{name}: no {argv}"
            elif argv[0] == "celery":
                assert argv[1] == "-A"
                app = importlib.import_module(argv[2]).celery_app
                assert argv[3] in ("worker", "beat"), argv
                assert app.main == "jsn"
            else:
                raise AssertionError(f"{name}: unknown command {argv}")
    assert checked == 6  # web: check --deploy, migrate, collectstatic, gunicorn; worker; beat


def test_beat_uses_the_database_scheduler():
    from django.conf import settings

    assert settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_requirements_are_all_pinned():
    lines = [ln.strip() for ln in (ROOT / "requirements.txt").read_text().splitlines() if ln.strip()]
    unpinned = [ln for ln in lines if not ln.startswith("#") and "==" not in ln]
    assert not unpinned, unpinned
    names = {ln.split("==")[0].lower() for ln in lines if "==" in ln}
    assert {"django", "packaging", "celery", "psycopg", "gunicorn"} <= names
