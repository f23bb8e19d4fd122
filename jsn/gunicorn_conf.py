"""gunicorn settings for every way JSN is served (make web, bin/run-all, docker-compose, the benches).

Only logging lives here: bind address and worker count stay on each command line. gunicorn's access log prints
request paths, and download links carry their token in the path, so its loggers get the same redacting filter
as Django's (settings.LOGGING).
"""

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
