"""JSN settings, read from the environment (see README "Configuration" and .env.example)."""

import os
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

from jsn import gunicorn_conf as _gunicorn_conf

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env")

DEBUG = env.bool("DEBUG", default=False)
DEMO_MODE = env.bool("DEMO_MODE", default=False)
_INSECURE_KEY = "django-insecure-jsn-local-development-only"
SECRET_KEY = env.str("SECRET_KEY", default=_INSECURE_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# No trailing slash: links are SITE_URL + a path. The default follows BIND (make run on another port).
# Empty counts as unset, as for BIND.
SITE_URL = (
    env.str("SITE_URL", default="")
    or _gunicorn_conf.site_url_for_bind(os.environ.get("BIND") or _gunicorn_conf.BIND_DEFAULT)
).rstrip("/")

INSTALLED_APPS = [
    "backoffice.apps.JsnAdminConfig",  # django.contrib.admin with the operations dashboard as its home page
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "import_export",
    "allauth",
    "allauth.account",
    "djstripe",
    "anymail",
    "axes",
    "csp",
    "accounts",
    "cases",
    "claims",
    "billing",
    "leads",
    "outbox",
    "backoffice",
    "audit",  # last: its post_migrate creates groups from every other app's permissions
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "jsn.middleware.LoginRequiredMiddleware",
    "jsn.middleware.PrivateNoStoreMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Inside the header middlewares above, so its page gets the same CSP, frame and cache headers as any other.
    "jsn.middleware.MethodNotAllowedPageMiddleware",
    "jsn.middleware.AdminSelectionMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into a response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "jsn.urls"
WSGI_APPLICATION = "jsn.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "jsn.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL in production and CI; SQLite (var/jsn.sqlite3) is the zero-setup demo default.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'jsn.sqlite3'}"),
}
# Persistent connections with health checks: measured ~3x more requests/s than one connection per
# request, and a restarted PostgreSQL is noticed on the next request instead of failing it.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # dj-stripe's long migration history rebuilds tables over and over on SQLite (8 minutes measured here),
    # so the zero-setup demo creates its tables directly (`migrate --run-syncdb`). PostgreSQL migrates normally;
    # no model of ours may point a foreign key at a dj-stripe model because of this (we store Stripe ids).
    MIGRATION_MODULES = {"djstripe": None}
else:
    # Django's PostgreSQL backend with a health check that needs no `SELECT 1` round trip per request.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["ENGINE"] = "jsn.lib.postgresql"
    # A claim that waits on a locked row gives up after DB_LOCK_TIMEOUT_MS instead of hanging.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"]["options"] = (
        f"-c lock_timeout={env.int('DB_LOCK_TIMEOUT_MS', default=2000)}"
        f" -c statement_timeout={env.int('DB_STATEMENT_TIMEOUT_MS', default=30000)}"
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            # Django's RedisCache that degrades to "nothing cached" while Redis is unreachable (jsn/lib/redis_cache.py).
            "BACKEND": "jsn.lib.redis_cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            # Bounded waits: with Redis unreachable a cache call gives up within a second or two instead of holding
            # a claim request (the rate limiter then counts per process, jsn/lib/ratelimit.py).
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    # No Redis (make run's local demo): a file cache under var/ is shared by the web, worker and Beat processes, so
    # the heartbeat, rate limits and lockouts agree across them (a per-process memory cache would not).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": env.str("CACHE_DIR", default=str(VAR_DIR / "cache")),
        }
    }

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    # The embedded broker for a zero-setup demo: messages are files under var/celery.
    _queue_dir = VAR_DIR / "celery" / "queue"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(VAR_DIR / "celery" / "processed"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = env.str("BILLING_TIME_ZONE", default="UTC")
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
OUTBOX_SWEEP_SECONDS = env.float("OUTBOX_SWEEP_SECONDS", default=60.0)
# jsn is not an installed app, so autodiscovery never finds jsn/tasks.py: without this the worker rejected the
# heartbeat as an unregistered task.
CELERY_IMPORTS = ["jsn.tasks"]
# The staff health API pings the workers over the broker and waits this long for answers (bounded, never hangs).
CELERY_PING_TIMEOUT_SECONDS = env.float("CELERY_PING_TIMEOUT_SECONDS", default=1.0)
# Beat sends the heartbeat every minute; older than this, Beat (or every worker) is reported down.
HEARTBEAT_STALE_SECONDS = env.int("HEARTBEAT_STALE_SECONDS", default=180)
# How long each scheduled job's runs are kept (backoffice.JobRun); the last success of each job is always kept.
JOB_RUN_KEEP_DAYS = env.int("JOB_RUN_KEEP_DAYS", default=14)
# Schedules live in code; the database scheduler copies them into django-celery-beat's tables at start.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "heartbeat": {"task": "jsn.tasks.heartbeat_task", "schedule": crontab(minute="*")},
    # 00:15 in BILLING_TIME_ZONE (CELERY_TIMEZONE): yesterday and its 15-minute claim grace have both ended.
    "bill-daily": {"task": "billing.tasks.bill_daily_task", "schedule": crontab(hour=0, minute=15)},
    # After the morning's charges and Stripe's webhooks have settled.
    "billing-reconcile": {"task": "billing.tasks.billing_reconcile_task", "schedule": crontab(hour=4, minute=45)},
    # Every minute, not hourly: a claim's access must end at its expiry (PRODUCT.md), and one indexed query a minute
    # that usually finds nothing is cheap (claim_status_expires).
    "expire-claims": {"task": "claims.tasks.expire_claims_task", "schedule": crontab(minute="*")},
    "warn-expiring-claims": {"task": "claims.tasks.warn_expiring_claims_task", "schedule": crontab(hour=8, minute=0)},
    "import-dialfire-leads": {"task": "leads.tasks.import_dialfire_task", "schedule": crontab(minute="*/15")},
    "send-due-lead-deliveries": {"task": "leads.tasks.send_due_deliveries_task", "schedule": crontab(minute="*")},
    "check-plz-subscriptions": {"task": "leads.tasks.check_subscriptions_task", "schedule": crontab(hour=3, minute=30)},
    # Delivers outbox messages whose after-commit nudge was lost (broker down, worker killed): see outbox/services.py.
    "sweep-outbox": {"task": "outbox.tasks.sweep_outbox_task", "schedule": OUTBOX_SWEEP_SECONDS},
    # Data retention (periods: RETENTION_* below). Each job is idempotent and set-based; two at once are harmless.
    "delete-orphaned-document-files": {
        "task": "cases.tasks.delete_orphaned_document_files_task",
        "schedule": crontab(hour=2, minute=40),
    },
    "delete-orphaned-lead-pdfs": {
        "task": "leads.tasks.delete_orphaned_lead_pdfs_task",
        "schedule": crontab(hour=2, minute=50),
    },
    "drop-old-webhook-bodies": {
        "task": "billing.tasks.drop_old_webhook_bodies_task",
        "schedule": crontab(hour=3, minute=0),
    },
    "prune-failed-logins": {"task": "accounts.tasks.prune_failed_logins_task", "schedule": crontab(hour=3, minute=10)},
    "clear-expired-sessions": {
        "task": "accounts.tasks.clear_expired_sessions_task",
        "schedule": crontab(hour=3, minute=20),
    },
}

# --- Auth -----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out login before any password is checked (the site login and the admin share it).
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "optional" if DEMO_MODE else "mandatory"
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_FORMS = {
    "signup": "accounts.allauth_forms.SignupForm",
    "add_email": "accounts.allauth_forms.AddEmailForm",
    "reset_password": "accounts.allauth_forms.ResetPasswordForm",
}
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"

# --- Business settings ----------------------------------------------------------------------
BILLING_TIME_ZONE = env.str("BILLING_TIME_ZONE", default="UTC")
DEFAULT_CLAIM_LIMIT = env.int("DEFAULT_CLAIM_LIMIT", default=50)
MAX_CLAIM_LIMIT = 250  # Stripe's per-invoice item limit
if not 1 <= DEFAULT_CLAIM_LIMIT <= MAX_CLAIM_LIMIT:
    raise ImproperlyConfigured(f"DEFAULT_CLAIM_LIMIT must be between 1 and {MAX_CLAIM_LIMIT}.")
CLAIM_MAX_DAYS = env.int("CLAIM_MAX_DAYS", default=None)
CLAIM_GRACE_MINUTES = env.int("CLAIM_GRACE_MINUTES", default=15)
# Claim/release requests per user per hour (a bulk request counts once); over it the API answers 429.
CLAIM_RATE_LIMIT_PER_HOUR = env.int("CLAIM_RATE_LIMIT_PER_HOUR", default=120)
PAYMENT_GRACE_DAYS = env.int("PAYMENT_GRACE_DAYS", default=3)
# How far back a user's first billing run looks for unbilled days (later runs continue from their cursor).
BILLING_LOOKBACK_DAYS = env.int("BILLING_LOOKBACK_DAYS", default=35)
DEFAULT_CURRENCY = env.str("DEFAULT_CURRENCY", default="usd")
DEFAULT_DAILY_PRICE_CENTS = env.int("DEFAULT_DAILY_PRICE_CENTS", default=500)
LEAD_EXCLUSIVE_HOURS = env.int("LEAD_EXCLUSIVE_HOURS", default=72)
# A Stripe-paid PLZ stays eligible this long past its period end, until the renewal webhook brings the new end.
PLZ_RENEWAL_GRACE_HOURS = env.int("PLZ_RENEWAL_GRACE_HOURS", default=6)
if not 0 <= PLZ_RENEWAL_GRACE_HOURS <= 72:
    raise ImproperlyConfigured("PLZ_RENEWAL_GRACE_HOURS must be between 0 and 72.")
DIALFIRE_BASE_URL = env.str("DIALFIRE_BASE_URL", default="")  # empty: the Dialfire import is off
DIALFIRE_TOKEN = env.str("DIALFIRE_TOKEN", default="")
DIALFIRE_CAMPAIGN_ID = env.str("DIALFIRE_CAMPAIGN_ID", default="")
TERMS_VERSION = env.str("TERMS_VERSION", default="2026-12")
# Per user and hour, counted separately for download links and downloads (in the shared cache).
DOCUMENT_RATE_LIMIT_PER_HOUR = env.int("DOCUMENT_RATE_LIMIT_PER_HOUR", default=60)

# --- Data retention (daily jobs in CELERY_BEAT_SCHEDULE) -------------------------------------
# Stored files (documents, lead PDFs) that no row references are deleted once older than this. Never below one day:
# an import writes its file before its row commits, and the age is what keeps that in-flight file safe.
RETENTION_ORPHAN_FILE_DAYS = env.int("RETENTION_ORPHAN_FILE_DAYS", default=7)
# Raw Stripe webhook bodies and headers (and dj-stripe's copy of each event's payload) are emptied after this;
# the rows (id, type, status, times) stay for the audit. Stripe retries for 3 days, so a week is the useful minimum.
RETENTION_WEBHOOK_BODY_DAYS = env.int("RETENTION_WEBHOOK_BODY_DAYS", default=30)
# Failed-login records (django-axes) are deleted after this, but never while they still count towards a lockout.
RETENTION_FAILED_LOGIN_DAYS = env.int("RETENTION_FAILED_LOGIN_DAYS", default=30)
for _name, _minimum in (
    ("RETENTION_ORPHAN_FILE_DAYS", 1),
    ("RETENTION_WEBHOOK_BODY_DAYS", 7),
    ("RETENTION_FAILED_LOGIN_DAYS", 1),
):
    if globals()[_name] < _minimum:
        raise ImproperlyConfigured(f"{_name} must be {_minimum} or more (days).")

# --- Stripe (dj-stripe) ----------------------------------------------------------------------
# Without a secret key JSN runs with local billing only: nothing calls Stripe (see STRIPE_ENABLED).
STRIPE_LIVE_MODE = env.bool("STRIPE_LIVE_MODE", default=False)
STRIPE_TEST_SECRET_KEY = env.str("STRIPE_TEST_SECRET_KEY", default="")
STRIPE_LIVE_SECRET_KEY = env.str("STRIPE_LIVE_SECRET_KEY", default="")
STRIPE_ENABLED = bool(STRIPE_LIVE_SECRET_KEY if STRIPE_LIVE_MODE else STRIPE_TEST_SECRET_KEY)
if DEBUG and (STRIPE_LIVE_MODE or STRIPE_LIVE_SECRET_KEY):
    # DEBUG pages show settings and tracebacks, and dj-stripe trusts an X-Djstripe-Webhook-Secret header with DEBUG.
    raise ImproperlyConfigured("DEBUG must be off when live Stripe keys are configured.")
# dj-stripe 2.11's default; without it dj-stripe falls back to the SDK's newer version.
STRIPE_API_VERSION = "2026-05-27.dahlia"
DJSTRIPE_FOREIGN_KEY_TO_FIELD = "id"
STRIPE_PLZ_PRICE_ID = env.str("STRIPE_PLZ_PRICE_ID", default="")
# How long one attempt at a Stripe API call may wait, in seconds: to connect (per address tried), and for each read
# of the answer. The SDK retries a failed attempt twice (same idempotency key) with up to ~2 s of back-off in all, so
# one call gives up after at most STRIPE_CALL_MAX_SECONDS. Its own default is 80 s per attempt: a web request calling
# Stripe then outlived the web worker's timeout, the caller got a killed worker instead of "Stripe did not answer",
# and staff and billing code waiting on it held their row locks that long. (DNS lookups are not bounded by these.)
STRIPE_CONNECT_TIMEOUT_SECONDS = env.float("STRIPE_CONNECT_TIMEOUT_SECONDS", default=4.0)
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=8.0)
for _name in ("STRIPE_CONNECT_TIMEOUT_SECONDS", "STRIPE_TIMEOUT_SECONDS"):
    if not 0 < globals()[_name] <= 120:
        raise ImproperlyConfigured(f"{_name} must be more than 0 and at most 120 (seconds).")
STRIPE_CALL_MAX_SECONDS = 3 * (STRIPE_CONNECT_TIMEOUT_SECONDS + STRIPE_TIMEOUT_SECONDS) + 2
# The web worker's timeout, as gunicorn reads it (jsn/gunicorn_conf.py, from the process environment, never from
# .env): one Stripe call that gets no answer must end inside it, with room for the rest of the request.
WEB_TIMEOUT_SECONDS = _gunicorn_conf.timeout
if STRIPE_CALL_MAX_SECONDS > WEB_TIMEOUT_SECONDS - 10:
    raise ImproperlyConfigured(
        f"3 x (STRIPE_CONNECT_TIMEOUT_SECONDS + STRIPE_TIMEOUT_SECONDS) + 2 = {STRIPE_CALL_MAX_SECONDS:g} s must be at "
        f"least 10 s under WEB_TIMEOUT_SECONDS ({WEB_TIMEOUT_SECONDS} s): a silent Stripe would outlive the web worker."
    )
if env.str("STRIPE_API_HOST", default=""):
    # dj-stripe points the SDK at this host whenever the setting exists, so only define it when asked.
    STRIPE_API_HOST = env.str("STRIPE_API_HOST")

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # First, because DRF answers a request without credentials with the first class's challenge: 401 with
        # `WWW-Authenticate: Token` (session authentication has none, so it would be a bare 403).
        "jsn.lib.auth.TokenAuthentication",  # DRF's, with a precompiled lookup
        "jsn.lib.auth.SessionAuthentication",  # DRF's, skipped without a session cookie
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "jsn.lib.schema.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "jsn.lib.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")
SPECTACULAR_SETTINGS = {
    "TITLE": "JSN API",
    "DESCRIPTION": "Exclusive access to scored foreclosure cases, billed daily.",
    "VERSION": "3.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v3",
    # Swagger UI served from our own static files (drf-spectacular-sidecar), never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # The docs list groups in this order: what subscribers and agents use first, the staff-only endpoints last.
    "TAGS": [
        {"name": "cases", "description": "Browse and read cases (sensitive fields masked unless you hold the case)."},
        {"name": "claims", "description": "Claim and release cases; your claims."},
        {"name": "documents", "description": "Download links for the documents of cases you hold."},
        {"name": "billing", "description": "Your invoices and today's charges."},
        {"name": "leads", "description": "Agents: PLZ subscriptions and received leads."},
        {"name": "me", "description": "Your account."},
        {"name": "admin", "description": "Staff only."},
    ],
    # Several models name their choices "Status"; give each enum its own component name.
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.Case.Status",
        "ClaimStatusEnum": "claims.models.Claim.Status",
        "InvoiceStatusEnum": "billing.models.Invoice.Status",
        "PlzSubscriptionStatusEnum": "leads.models.PlzSubscription.Status",
        "LeadStatusEnum": "leads.models.Lead.Status",
        "DeliveryStatusEnum": "leads.models.Delivery.Status",
        "HealthCheckStatusEnum": "jsn.lib.health.CHECK_STATUSES",
        "SystemHealthStatusEnum": "backoffice.health.OVERALL_STATUSES",
    },
}

# --- I18N, static, media, e-mail ------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    # Documents are private: MEDIA_ROOT is never served by a URL; downloads go through signed views.
    # For S3-compatible storage, install django-storages[s3] and set "storages.backends.s3.S3Storage" here
    # (bucket private, querystring_auth on); cases/documents.py only uses the storage API.
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=VAR_DIR / "media")

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_SUBJECT_PREFIX = "[JSN] "  # every e-mail JSN sends (jsn/lib/mail.py), error mails to ADMINS included
ACCOUNT_EMAIL_SUBJECT_PREFIX = EMAIL_SUBJECT_PREFIX  # allauth's account e-mails too
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="JSN <noreply@jsn.local>")
# django-anymail: EMAIL_BACKEND=anymail.backends.<esp>.EmailBackend sends through a provider. Every environment
# variable ANYMAIL_<NAME> becomes ANYMAIL["<NAME>"] (e.g. ANYMAIL_POSTMARK_SERVER_TOKEN, ANYMAIL_WEBHOOK_SECRET).
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and name != "ANYMAIL_ESP"
}
# The provider whose tracking webhook (delivered, bounced, opened) is mounted at /anymail/<esp>/tracking/.
# Empty: no tracking URL exists. Its only protection is HTTP basic auth, so a secret is required.
ANYMAIL_ESP = env.str("ANYMAIL_ESP", default="").strip().lower()
if ANYMAIL_ESP and ":" not in ANYMAIL.get("WEBHOOK_SECRET", ""):
    raise ImproperlyConfigured("ANYMAIL_ESP needs ANYMAIL_WEBHOOK_SECRET=<user>:<password> (HTTP basic auth).")

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# Login lockout (django-axes): the 6th attempt after 5 failures is refused, counted per account so that
# rotating X-Forwarded-For or IP addresses does not reset it. Staff unlock with `manage.py axes_reset_username`.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = env.float("LOGIN_LOCKOUT_HOURS", default=1.0)
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = [
    # axes.W006 wants the IP in the lockout key. We key on the account alone on purpose: behind a proxy every
    # client shares one address (an IP key would lock everyone out together), and rotating addresses must
    # not reset an account's counter. allauth's own per-IP rate limit (ACCOUNT_RATE_LIMITS) covers sprays.
    "axes.W006",
    # HSTS preload is a commitment for every subdomain, made by the operator (SECURE_HSTS_PRELOAD=1), not a default.
    "security.W021",
]
AXES_USERNAME_FORM_FIELD = "login"
AXES_USERNAME_CALLABLE = "accounts.axes.lockout_username"
AXES_RESET_ON_SUCCESS = True
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "account/locked_out.html"
AXES_VERBOSE = False
# allauth's own per-address limit stops sprays across accounts; per-account lockout is django-axes' job above.
ACCOUNT_RATE_LIMITS = {"login_failed": "20/m/ip,20/5m/key"}

# Content Security Policy (django-csp): no inline scripts anywhere; inline styles only for the admin's widgets.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'", "https://checkout.stripe.com", "https://billing.stripe.com"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    # Download links carry a signed token in their path: these loggers print paths, so they get it redacted.
    "filters": {"redact_download_tokens": {"()": "jsn.lib.log_filters.RedactDownloadTokens"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["redact_download_tokens"]},
        "django.server": {"filters": ["redact_download_tokens"]},
        "django.security.csrf": {"filters": ["redact_download_tokens"]},
    },
}
