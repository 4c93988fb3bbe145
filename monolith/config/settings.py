"""Monolith settings. Everything comes from the environment with safe defaults for `make run`."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from monolith.kernel.settings_env import celery_broker_from_env, database_from_env

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

_INSECURE_KEY = "insecure-dev-key-change-me"


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


DEBUG = _flag("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", _INSECURE_KEY)
if not DEBUG and SECRET_KEY == _INSECURE_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "monolith.kernel",
    "monolith.users",
    "monolith.catalog",
    "monolith.orders",
    "monolith.payments",
    "monolith.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "monolith.kernel.internal_auth.InternalCredentialMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "monolith.config.urls"
WSGI_APPLICATION = "monolith.config.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {"default": database_from_env(VAR_DIR / "monolith.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "users.User"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True
STATIC_URL = "static/"

# Keep request bodies small: the API never needs more.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.TokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "monolith.kernel.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Strangler Kit shop (monolith)",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}

# Events: Redis when configured; otherwise kombu's filesystem transport, which works across
# processes with no server to install.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_from_env(VAR_DIR / "broker")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# With the threads pool a worker fetches again only once a prefetched slot is acked, and the Redis
# transport then waits out a poll: a deeper prefetch keeps the threads fed (measured: about 30
# events/s with 1). Prefetched messages are unacked, so a crash redelivers them to idempotent consumers.
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("CELERY_PREFETCH_MULTIPLIER", "16"))
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "monolith")
OUTBOX_CELERY_APP = "monolith.config.celery.app"
# After a broker outage the relay re-publishes the events of this many seconds before it (kernel outbox_replay).
OUTBOX_REPLAY_WINDOW = float(os.environ.get("OUTBOX_REPLAY_WINDOW", "60"))


def _queues(name: str, default: str) -> list[str]:
    return [q.strip() for q in os.environ.get(name, default).split(",") if q.strip()]


# Where the relay sends each event type. Payment snapshots go to the extracted payments service's
# queue only when PAYMENTS_SYNC_QUEUES names it (continuous sync during a cutover).
OUTBOX_ROUTES = {
    "payments.PaymentSynced": _queues("PAYMENTS_SYNC_QUEUES", ""),
    "*": [CELERY_TASK_DEFAULT_QUEUE],
}
# Periodic sweeps, run by the worker's embedded beat (`celery worker -B`) or a separate beat.
CELERY_BEAT_SCHEDULE = {
    "resume-stale-checkouts": {"task": "orders.checkouts_resume_stale", "schedule": 30.0},
    "purge-idempotency-keys": {"task": "kernel.idempotency_purge", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Unit tests may set this; integration tests and `make run` never do.
CELERY_TASK_ALWAYS_EAGER = _flag("CELERY_TASK_ALWAYS_EAGER", False)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")

# Payments processor adapter: "fake" is deterministic, with test-card tokens.
PAYMENTS_PROCESSOR = os.environ.get("PAYMENTS_PROCESSOR", "fake")
IDEMPOTENCY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))

# Service-to-service calls carry a credential signed with this shared secret (strangler.credentials).
_INSECURE_INTERNAL_SECRET = "insecure-internal-secret-change-me"
INTERNAL_AUTH_SECRET = os.environ.get("INTERNAL_AUTH_SECRET", _INSECURE_INTERNAL_SECRET)
if not DEBUG and INTERNAL_AUTH_SECRET == _INSECURE_INTERNAL_SECRET:
    raise ImproperlyConfigured("INTERNAL_AUTH_SECRET must be set when DEBUG is off")
INTERNAL_AUTH_CALLER = "monolith"
# Who may call the monolith's internal endpoints (token introspection, its payments implementation).
INTERNAL_AUTH_PATHS = {"/internal/": ["payments-service", "monolith"]}

# Payments behind monolith.payments.interface: "local" (this process's code and tables), "remote"
# (the extracted payments service over HTTP) or "follow" (whatever the strangler route table says
# for PAYMENTS_ROUTE, read from STRANGLER_STORE_URL, so one `strangler set` moves every caller).
PAYMENTS_IMPL = os.environ.get("PAYMENTS_IMPL", "local")
PAYMENTS_SERVICE_URL = os.environ.get("PAYMENTS_SERVICE_URL", "http://127.0.0.1:8002")
PAYMENTS_CONNECT_TIMEOUT = float(os.environ.get("PAYMENTS_CONNECT_TIMEOUT", "0.5"))
PAYMENTS_READ_TIMEOUT = float(os.environ.get("PAYMENTS_READ_TIMEOUT", "5"))
PAYMENTS_RETRIES = int(os.environ.get("PAYMENTS_RETRIES", "2"))
PAYMENTS_ROUTE = os.environ.get("PAYMENTS_ROUTE", "payments")
STRANGLER_STORE_URL = os.environ.get("STRANGLER_STORE_URL", "")

# Tracing (monolith.kernel.tracing): on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says so.
# Web processes are "monolith", the worker "monolith-worker", the outbox relay this name + "-relay".
TRACING_SERVICE_NAME = "monolith"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
