"""Settings for benchmarks: the app's own settings, pointed at the bench database, production-like.

The bench database is forced (not defaulted) so a developer's DATABASE_URL can never receive 100,000 seeded rows.
"""

import os

DEFAULT_BENCH_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/jsn_bench"
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL") or DEFAULT_BENCH_DATABASE_URL
os.environ["DEBUG"] = "0"
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-used-anywhere-else-0123456789")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from jsn.settings import *  # noqa: E402, F403
from jsn.settings import BASE_DIR, DATABASES  # noqa: E402

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "bench.urls"
# The HTML page uses the manifest storage as in production; bin/bench collects into its own folder.
STATIC_ROOT = BASE_DIR / "var" / "bench-static"

if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise RuntimeError("Benchmarks run against PostgreSQL only (BENCH_DATABASE_URL).")
