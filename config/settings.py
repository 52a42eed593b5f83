"""Settings for every deployment, in one module.

Every deployment value comes from the environment, with a safe local default
so that a laptop needs no configuration at all (SQLite, Celery's filesystem
broker, email to the console). Production sets DATABASE_URL, CELERY_BROKER_URL,
SECRET_KEY, ALLOWED_HOSTS and the email settings.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("APPROVALS_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()

DEBUG = env.bool("DEBUG", default=True)

# A local default exists only for DEBUG, so a production deployment that
# forgot SECRET_KEY fails at start instead of signing tokens with a known key.
_LOCAL_SECRET = "django-insecure-local-only-approvals-key-do-not-use-in-production"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=_LOCAL_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# The public base URL used in links inside emails, Slack and Teams messages.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "django_fsm",
    "orgchart",
    "audit",
    "approvals",
    "approvals.notifications",
    "approvals.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # Pages run our own scripts and styles only (the admin and API docs get a looser policy).
    "approvals.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

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
                "approvals.context_processors.navigation",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
# Default: a SQLite file, in WAL mode with IMMEDIATE transactions and a busy
# timeout, so the web process and the Celery worker take turns writing instead
# of failing with "database is locked".
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'approvals.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default keeps its database next to the code, in var/.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend, reading timestamps with psycopg's C parser (config/postgresql).
        DATABASES["default"]["ENGINE"] = "config.postgresql"
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # PostgreSQL's JIT compiles a query the planner thinks is big before running it;
    # for this application's short indexed queries that costs more than it saves
    # (110 ms of a 300 ms audit search at full scale, docs/PERFORMANCE.md).
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DATABASES["default"]["TEST"] = {"NAME": env.str("TEST_DATABASE_NAME", default=None)}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "orgchart.Person"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

# Django's database sessions, read with one plain query instead of the ORM (config/sessions.py).
SESSION_ENGINE = "config.sessions"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
# WhiteNoise warns at every start when STATIC_ROOT is missing (before collectstatic).
if DEBUG:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- Email --------------------------------------------------------------------
# The console by default; any SMTP server through EMAIL_URL (smtp://user:pw@host:587,
# smtp+tls://…) or another backend through EMAIL_BACKEND.
_email = env.email_url("EMAIL_URL") if env.str("EMAIL_URL", default="") else {}
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default=_email.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend"),
)
EMAIL_HOST = _email.get("EMAIL_HOST", "localhost")
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="approvals@localhost")

# --- REST framework -----------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's TokenAuthentication, refusing malformed keys before the database sees them.
        "approvals.api.authentication.StrictTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # Malformed bodies and domain errors become 4xx JSON, never a 500 (approvals/api).
    "DEFAULT_PARSER_CLASSES": [
        "approvals.api.parsers.SafeJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "EXCEPTION_HANDLER": "approvals.api.exceptions.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Approvals API",
    "DESCRIPTION": "Submit requests, decide tasks, publish workflows and query the audit trail.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Request and task states share the field name "state": name their enums.
    "ENUM_NAME_OVERRIDES": {
        "RequestStateEnum": "approvals.choices.RequestState",
        "TaskStateEnum": "approvals.choices.TaskState",
    },
}

# --- Celery -------------------------------------------------------------------
# Default: the filesystem broker in var/, so a laptop needs no Redis. The same
# folder is used for in and out so every process on the machine shares one queue.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
_broker_dir = VAR_DIR / "celery"
if CELERY_BROKER_URL.startswith("filesystem"):
    # Every process on the machine (web, worker with beat) shares these folders.
    for _folder in ("queue", "processed", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    if CELERY_BROKER_URL.startswith("filesystem")
    else {"visibility_timeout": 3600}
)
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport with one client per channel, not one per message
    # (config/broker.py); the messages are kombu's own.
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# A broker that is down must not hang a web request: publishing gives up fast and
# the outbox sweep re-queues whatever never reached the broker.
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_BROKER_CONNECTION_TIMEOUT", default=2.0)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_PUBLISH_RETRY = False
# Celery looks these up for every message it sends, here first and then in its own
# defaults: named here with those very defaults, each is found at once instead of
# after two misses through Django's settings (~45 µs of a ~430 µs publish).
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BROKER_POOL_ACQUIRE_TIMEOUT = None
CELERY_BEAT_SCHEDULE: dict = {
    "sweep-sla": {"task": "approvals.tasks.sweep_sla_task", "schedule": timedelta(minutes=1)},
    # Absences that move open tasks: when one starts, its owner's tasks go to the delegate.
    "move-absent-tasks": {
        "task": "approvals.tasks.move_absent_tasks",
        "schedule": timedelta(minutes=1),
    },
    # Hashes every changed audit chain head into the checkpoint chain.
    "audit-checkpoint": {"task": "audit.tasks.checkpoint_task", "schedule": timedelta(hours=1)},
    # Moves audit events past AUDIT_HOT_DAYS to the compressed archive.
    "audit-archive": {"task": "audit.tasks.archive_task", "schedule": timedelta(days=1)},
    # Hands the broker every outbox row that never reached it (Redis was down) and
    # every retry that is due.
    "requeue-outbox": {"task": "approvals.tasks.requeue_outbox", "schedule": timedelta(minutes=1)},
    # Reminders of people who chose a daily digest, once an hour (each person's
    # held reminders go out when NOTIFY_DIGEST_HOUR comes round).
    # The API's Idempotency-Keys past their 24 hours (expired ones already count as absent).
    "purge-idempotency-keys": {
        "task": "approvals.tasks.purge_idempotency_keys",
        "schedule": timedelta(hours=1),
    },
    "reminder-digests": {
        "task": "approvals.tasks.send_reminder_digests",
        "schedule": timedelta(hours=1),
    },
}

# --- Notifications ------------------------------------------------------------
# Slack: a bot token for chat.postMessage (SLACK_API_URL lets tests use a local fake),
# or an incoming webhook; the signing secret verifies interactivity callbacks.
SLACK_BOT_TOKEN = env.str("SLACK_BOT_TOKEN", default="")
SLACK_SIGNING_SECRET = env.str("SLACK_SIGNING_SECRET", default="")
SLACK_API_URL = env.str("SLACK_API_URL", default="https://slack.com/api/")
SLACK_WEBHOOK_URL = env.str("SLACK_WEBHOOK_URL", default="")
# Where Slack's response_url may point (a callback's own URL is only followed there).
SLACK_RESPONSE_URL_PREFIXES = env.list(
    "SLACK_RESPONSE_URL_PREFIXES", default=["https://hooks.slack.com/"]
)
# Microsoft Teams: an incoming webhook (a channel) that receives Adaptive Cards.
TEAMS_WEBHOOK_URL = env.str("TEAMS_WEBHOOK_URL", default="")
# Messages to one person about one request within this window go out as one.
NOTIFY_COLLAPSE_SECONDS = env.int("NOTIFY_COLLAPSE_SECONDS", default=60)
# Outbox rows due now are handed to Celery in messages of up to this many ids (a
# worker delivers a message's rows one after another).
NOTIFY_HANDOFF_CHUNK = env.int("NOTIFY_HANDOFF_CHUNK", default=20)
# Hand outbox rows to the broker after commit from a thread of the process, so the
# request that wrote them does not wait for the broker (approvals/notifications/handoff.py).
NOTIFY_HANDOFF_THREAD = env.bool("NOTIFY_HANDOFF_THREAD", default=True)
# The local hour (TIME_ZONE) at which daily reminder digests go out.
NOTIFY_DIGEST_HOUR = env.int("NOTIFY_DIGEST_HOUR", default=8)
# One-click action links in messages expire after this many seconds.
ACTION_LINK_MAX_AGE = env.int("ACTION_LINK_MAX_AGE", default=7 * 24 * 3600)
# Outbox delivery: attempts before a row is marked failed, and the backoff
# (base * 2**(attempt-1), capped).
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=8)
OUTBOX_RETRY_BASE_SECONDS = env.int("OUTBOX_RETRY_BASE_SECONDS", default=30)
OUTBOX_RETRY_MAX_SECONDS = env.int("OUTBOX_RETRY_MAX_SECONDS", default=3600)
# A row handed to the broker (or claimed by a worker) this long ago without an
# outcome was lost (a broker restart, a killed worker): the sweep queues it again.
OUTBOX_STALE_SECONDS = env.int("OUTBOX_STALE_SECONDS", default=600)
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)
# The SLA sweep claims due requests in batches of this size.
SLA_SWEEP_BATCH_SIZE = env.int("SLA_SWEEP_BATCH_SIZE", default=100)
# A backlog of due work (more than one batch) is swept by this many worker processes
# side by side (approvals/sla.py); as many as the worker's concurrency, which is the
# machine's cores by default.
SLA_SWEEPERS = env.int("SLA_SWEEPERS", default=2)
if SLA_SWEEPERS < 1:
    raise ImproperlyConfigured(f"SLA_SWEEPERS must be 1 or more, not {SLA_SWEEPERS}")
# A task the engine fails on is looked at again this long after (approvals/sla.py).
SLA_RETRY_SECONDS = env.int("SLA_RETRY_SECONDS", default=600)
if SLA_RETRY_SECONDS < 0:
    raise ImproperlyConfigured(f"SLA_RETRY_SECONDS must be 0 or more, not {SLA_RETRY_SECONDS}")

# --- Audit --------------------------------------------------------------------
# Who may see which audit events (audit never imports approvals: it loads this).
AUDIT_VISIBILITY = "approvals.audit_visibility.visible_events"
# Events older than this many days move to the compressed archive (the cold tier).
AUDIT_HOT_DAYS = env.int("AUDIT_HOT_DAYS", default=365 * 2)
AUDIT_ARCHIVE_DIR = Path(env.str("AUDIT_ARCHIVE_DIR", default=str(VAR_DIR / "audit-archive")))
# Events per archive file: bounds the memory a query needs to read one file.
AUDIT_ARCHIVE_FILE_EVENTS = env.int("AUDIT_ARCHIVE_FILE_EVENTS", default=10_000)

# --- Approvals ----------------------------------------------------------------
APPROVALS = {
    "DEFAULT_FALLBACK_ROLE": "approval-admins",
    "MAX_DELEGATION_HOPS": 5,
    # Evidence on requests: the largest file, and the accepted extensions with the
    # content type they are served with.
    "ATTACHMENT_MAX_BYTES": env.int("ATTACHMENT_MAX_BYTES", default=10_000_000),
    "ATTACHMENT_TYPES": {
        "pdf": "application/pdf",
        "png": "image/png",
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "gif": "image/gif",
        "txt": "text/plain",
        "csv": "text/csv",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "eml": "message/rfc822",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # cel-python logs every transpiled expression at INFO.
        "celpy": {"level": "WARNING"},
    },
}
