"""Settings for the app processes that tests/stress starts (gunicorn, Celery worker and Beat): the production
settings with DEBUG off, pointed by the harness at a private PostgreSQL and Redis, e-mail to a shared file."""

import os

os.environ["DEBUG"] = "0"
os.environ["DEMO_MODE"] = "0"
os.environ.setdefault("SECRET_KEY", "stress-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ["EMAIL_BACKEND"] = "tests.fakes.mailbox.FileMailbox"

from jsn.settings import *  # noqa: F403
from jsn.settings import DATABASES, STORAGES

# Pages render without a collectstatic run (as in tests); whitenoise serves from the finders.
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
WHITENOISE_AUTOREFRESH = True

# Only for showing what health checks buy (README "Stress tests"): STRESS_CONN_HEALTH_CHECKS=0 turns them off.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = os.environ.get("STRESS_CONN_HEALTH_CHECKS", "1") != "0"

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    raise RuntimeError("The stress tests run against PostgreSQL only.")
