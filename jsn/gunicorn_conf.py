"""gunicorn settings for every way JSN is served (make web, bin/run-all, docker-compose, the benches).

The address (`BIND`) and the worker processes (`WEB_CONCURRENCY`), threads per worker (`WEB_THREADS`) and the
request timeout, read from the environment and `.env` as the Django settings read it, so a `BIND` in `.env` moves
the listening address and SITE_URL's default together; a `--bind` or `--workers` on the command line still wins
(docker-compose, the benches). Logging: gunicorn's access log prints request paths, and download links carry their
token in the path, so its loggers get the same redacting filter as Django's (settings.LOGGING).
"""

import os
from pathlib import Path

import environ

_ENV_FILE = Path(__file__).resolve().parent.parent / ".env"
if _ENV_FILE.exists():
    environ.Env.read_env(_ENV_FILE)  # fills only variables the environment does not set, as in settings

# The address make run and make web listen on unless BIND says otherwise (docker-compose's web binds 0.0.0.0:8000).
BIND_DEFAULT = "127.0.0.1:8000"
WEB_CONCURRENCY_DEFAULT = 2
bind = [os.environ.get("BIND") or BIND_DEFAULT]  # empty counts as unset, as for SITE_URL
workers = max(1, int(os.environ.get("WEB_CONCURRENCY") or WEB_CONCURRENCY_DEFAULT))


def site_url_for_bind(bind: str) -> str:
    """The base URL a browser on this machine reaches a server bound to `bind` at (settings.SITE_URL's default, so
    e-mail links follow `BIND=127.0.0.1:8765 make run`). Of a list (`a:1,b:2`, as gunicorn takes) the first address;
    `tcp://` is dropped; a wildcard host becomes 127.0.0.1; a Unix socket, a file descriptor or anything else that is
    not host:port gives the default's URL. Production sets SITE_URL to its public address."""
    first = bind.split(",")[0].strip().removeprefix("tcp://")
    host, _, port = first.rpartition(":")
    if not port.isdigit() or not host or "/" in host or host.startswith(("unix:", "fd:")):
        host, _, port = BIND_DEFAULT.rpartition(":")
    if host in ("0.0.0.0", "[::]", "::"):  # noqa: S104 - recognising a wildcard bind, not binding one
        host = "127.0.0.1"
    return f"http://{host}:{port}"


# Threads per worker process. 1 is gunicorn's sync worker: one request at a time per process, which then sits idle
# while PostgreSQL commits (a durable claim waits for its WAL flush) or Redis answers. More runs gunicorn's gthread
# worker: another request's Python work fills those waits, and concurrent commits share one flush.
WEB_THREADS_DEFAULT = 1
threads = max(1, int(os.environ.get("WEB_THREADS") or WEB_THREADS_DEFAULT))

# Seconds a sync worker may spend on one request before gunicorn kills it (gunicorn's own default is 30). Requests
# that call Stripe are bounded to fit (settings: STRIPE_CALL_MAX_SECONDS, and staff batches stop in time).
WEB_TIMEOUT_DEFAULT = 60
timeout = max(1, int(os.environ.get("WEB_TIMEOUT_SECONDS") or WEB_TIMEOUT_DEFAULT))

accesslog = "-"
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_download_tokens": {"()": "jsn.lib.log_filters.RedactDownloadTokens"}},
    "formatters": {
        "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s", "class": "logging.Formatter"}
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["redact_download_tokens"],
            "stream": "ext://sys.stdout",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "filters": ["redact_download_tokens"],
            "stream": "ext://sys.stderr",
        },
    },
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": False},
    },
}
