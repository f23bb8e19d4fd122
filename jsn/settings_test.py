"""Test settings: the real settings with test-safe defaults for what the environment did not set."""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production")
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
os.environ.setdefault("SECURE_COOKIES", "false")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
# The tracking webhook is mounted in tests, so the route matrix and login decisions cover it.
os.environ.setdefault("ANYMAIL_ESP", "postmark")
os.environ.setdefault("ANYMAIL_WEBHOOK_SECRET", "jsn-test-hook:test-webhook-password")

from jsn.settings import *  # noqa: F403

if not REDIS_URL:  # noqa: F405
    # Without Redis each test process keeps its own cache (the file cache of `make run` would be shared by the
    # parallel test workers, and every test clears the cache).
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; real hashers in production
STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}  # noqa: F405
MEDIA_ROOT = os.environ.get("TEST_MEDIA_ROOT", str(VAR_DIR / "test-media"))  # noqa: F405
WHITENOISE_AUTOREFRESH = True  # serve static files from the finders; no collectstatic before tests

# bin/test-db-template: test databases are copied from a fully migrated template instead of migrating each one.
if os.environ.get("JSN_TEST_DB_TEMPLATE") and DATABASES["default"]["ENGINE"].endswith("postgresql"):  # noqa: F405
    DATABASES["default"]["TEST"] = {"TEMPLATE": os.environ["JSN_TEST_DB_TEMPLATE"]}  # noqa: F405
