"""Monolith settings. Everything comes from the environment with safe defaults for `make run`."""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from strangler.django.settings_env import (
    celery_broker_from_env,
    database_from_env,
    internal_auth_keys_from_env,
    spectacular_settings,
)

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
    "strangler.django.outbox",
    "strangler.django.idempotency",
    "strangler.django.extraction",
    "strangler.django.coupling",  # `manage.py strangler_coupling`: what ties each context to the rest
    "strangler.django.scaffold",  # `manage.py strangler_extract`: scaffolds the service of one context
    "monolith.kernel",
    "monolith.users",
    "monolith.catalog",
    "monolith.orders",
    "monolith.payments",
    "monolith.notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strangler.django.internal_auth.InternalCredentialMiddleware",
    "strangler.django.cohort.CohortRequestMiddleware",
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
    "EXCEPTION_HANDLER": "strangler.django.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "strangler.django.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# The kit's settings make the document exact (strangler.django.openapi): error bodies, 401/400/415/404.
SPECTACULAR_SETTINGS = spectacular_settings(TITLE="Strangler Kit shop (monolith)", VERSION="1.0.0")

# Events: the configured broker, else the embedded Redis that `make run` starts.
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_from_env()
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
# After a broker outage the relay re-publishes the events of this many seconds before it (strangler.django.outbox.replay).
OUTBOX_REPLAY_WINDOW = float(os.environ.get("OUTBOX_REPLAY_WINDOW", "60"))
# A delivery no consumer acknowledged is sent again after this many seconds (strangler.django.outbox.acks).
OUTBOX_ACK_TIMEOUT = float(os.environ.get("OUTBOX_ACK_TIMEOUT", "600"))


def _queues(name: str, default: str) -> list[str]:
    return [q.strip() for q in os.environ.get(name, default).split(",") if q.strip()]


# Where the relay sends each event type. Payment snapshots go to the extracted payments service's
# queue only when PAYMENTS_SYNC_QUEUES names it, product snapshots to the catalog service's only when
# CATALOG_SYNC_QUEUES does (continuous sync during a cutover; unset, the flip gate refuses to leave
# the monolith).
OUTBOX_ROUTES = {
    "payments.PaymentSynced": _queues("PAYMENTS_SYNC_QUEUES", ""),
    "payments.IdempotencyRecordSynced": _queues("PAYMENTS_SYNC_QUEUES", ""),
    "catalog.ProductSynced": _queues("CATALOG_SYNC_QUEUES", ""),
    "*": [CELERY_TASK_DEFAULT_QUEUE],
}
# Periodic sweeps, scheduled by one `celery beat` process of their own (never `worker -B`, whose beat a
# dying worker leaves behind).
CELERY_BEAT_SCHEDULE = {
    "resume-stale-checkouts": {"task": "orders.checkouts_resume_stale", "schedule": 30.0},
    # Charges whose processor answer was lost: asked again with the same key (monolith.payments.tasks).
    "resolve-unknown-charges": {"task": "payments.charges_resolve_unknown", "schedule": 60.0},
    "resolve-unknown-refunds": {"task": "payments.refunds_resolve_unknown", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "kernel.idempotency_purge", "schedule": 3600.0},
    "resend-failed-mails": {"task": "notifications.resend_due", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Unit tests may set this; integration tests and `make run` never do.
CELERY_TASK_ALWAYS_EAGER = _flag("CELERY_TASK_ALWAYS_EAGER", False)

EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.filebased.EmailBackend")
EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "shop@example.com")

# Payments processor adapter: "fake" is deterministic, with test-card tokens.
PAYMENTS_PROCESSOR = os.environ.get("PAYMENTS_PROCESSOR", "fake")
# A public charge must be for the caller's own order (payments asks orders through this hook).
PAYMENTS_ORDER_OWNED = "monolith.config.wiring.order_owned"
IDEMPOTENCY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))

# Service-to-service calls carry a credential for one audience (strangler.proxy.credentials), signed with
# the caller->audience pair's key: from INTERNAL_AUTH_KEYS (JSON {"caller>audience": key}) when given,
# else derived from the root secret INTERNAL_AUTH_SECRET.
_INSECURE_INTERNAL_SECRET = "insecure-internal-secret-change-me"
INTERNAL_AUTH_KEYS = internal_auth_keys_from_env()
INTERNAL_AUTH_SECRET = os.environ.get("INTERNAL_AUTH_SECRET", "" if INTERNAL_AUTH_KEYS else _INSECURE_INTERNAL_SECRET)
if not DEBUG and INTERNAL_AUTH_SECRET == _INSECURE_INTERNAL_SECRET:
    raise ImproperlyConfigured("INTERNAL_AUTH_SECRET must be set when DEBUG is off")
INTERNAL_AUTH_CALLER = "monolith"  # also its audience: credentials for it are minted for "monolith"
# Who may call the monolith's internal endpoints (token introspection, its payments implementation).
INTERNAL_AUTH_PATHS = {
    "/internal/": ["payments-service", "monolith"],
    # The catalog's reads and stock steps as the monolith implements them: the monolith's own callers
    # only (what its contracts are verified as); the payments service never needs them.
    "/internal/v1/catalog/": ["monolith"],
    "/internal/strangler/": ["strangler"],  # the kit's status counts, for the proxy's dashboard
}

# Payments behind monolith.payments.interface: "local" (this process's code and tables), "remote"
# (the extracted payments service over HTTP) or "follow" (whatever the strangler route table says
# for PAYMENTS_ROUTE, read from STRANGLER_STORE_URL, so one `strangler set` moves every caller).
PAYMENTS_IMPL = os.environ.get("PAYMENTS_IMPL", "local")
PAYMENTS_SERVICE_URL = os.environ.get("PAYMENTS_SERVICE_URL", "http://127.0.0.1:8002")
# The service's name for internal credentials (its INTERNAL_AUTH_CALLER): what the remote client mints for.
PAYMENTS_SERVICE_AUDIENCE = os.environ.get("PAYMENTS_SERVICE_AUDIENCE", "payments-service")
PAYMENTS_CONNECT_TIMEOUT = float(os.environ.get("PAYMENTS_CONNECT_TIMEOUT", "0.5"))
PAYMENTS_READ_TIMEOUT = float(os.environ.get("PAYMENTS_READ_TIMEOUT", "5"))
PAYMENTS_RETRIES = int(os.environ.get("PAYMENTS_RETRIES", "2"))
PAYMENTS_ROUTE = os.environ.get("PAYMENTS_ROUTE", "payments")

# Catalog behind monolith.catalog.interface: "local" or "remote" (the extracted catalog service over
# HTTP). No "follow" yet: stock moves to one owner at a time (README: "No oversell, ever").
CATALOG_IMPL = os.environ.get("CATALOG_IMPL", "local")
CATALOG_SERVICE_URL = os.environ.get("CATALOG_SERVICE_URL", "http://127.0.0.1:8003")
CATALOG_SERVICE_AUDIENCE = os.environ.get("CATALOG_SERVICE_AUDIENCE", "catalog-service")
CATALOG_CONNECT_TIMEOUT = float(os.environ.get("CATALOG_CONNECT_TIMEOUT", "0.5"))
CATALOG_READ_TIMEOUT = float(os.environ.get("CATALOG_READ_TIMEOUT", "5"))
CATALOG_RETRIES = int(os.environ.get("CATALOG_RETRIES", "2"))
STRANGLER_STORE_URL = os.environ.get("STRANGLER_STORE_URL", "")
# The contexts the kit's extraction engine moves (manage.py strangler_backfill / strangler_reconcile <context>).
STRANGLER_EXTRACTIONS = {"payments": "monolith.payments.extraction.SPEC", "catalog": "monolith.catalog.extraction.SPEC"}
# The payments route's cohort in the proxy's route table (deploy/*/routes.toml): during a canary the
# monolith's own payments calls bucket a request exactly as the proxy buckets that client.
STRANGLER_ROUTE_COHORTS = {PAYMENTS_ROUTE: os.environ.get("PAYMENTS_ROUTE_COHORT", "header:authorization")}

# Tracing (strangler.django.tracing): on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says so.
# Web processes are "monolith", the worker "monolith-worker", the outbox relay this name + "-relay".
TRACING_SERVICE_NAME = "monolith"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
