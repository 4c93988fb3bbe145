"""The catalog service settings. Everything comes from the environment, with defaults for a local run; with
DEBUG off the development secrets are refused.

The service installs the kit's Django apps (outbox and inbox, idempotency, extraction) and the
monolith's ``monolith.catalog`` app as a library, with the apps its migrations depend on.
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from strangler.django.settings_env import (
    celery_broker_from_env,
    database_from_env,
    internal_auth_keys_from_env,
    spectacular_settings,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)

SERVICE_NAME = "catalog-service"  # its internal credentials' caller and audience, and its tracing name
_INSECURE_KEY = "insecure-dev-key-change-me"
_INSECURE_INTERNAL_SECRET = "insecure-internal-secret-change-me"


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").lower() in {"1", "true", "yes", "on"}


def _queues(name: str, default: str) -> list[str]:
    return [q.strip() for q in os.environ.get(name, default).split(",") if q.strip()]


DEBUG = _flag("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", _INSECURE_KEY)
if not DEBUG and SECRET_KEY == _INSECURE_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",  # DRF's request machinery imports it
    "rest_framework",
    "drf_spectacular",
    "strangler.django.outbox",  # the outbox and the inbox (consumed events, acks)
    "strangler.django.idempotency",
    "strangler.django.extraction",
    "monolith.catalog.apps.CatalogConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strangler.django.internal_auth.InternalCredentialMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "catalog_service.urls"
WSGI_APPLICATION = "catalog_service.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {"default": database_from_env(VAR_DIR / "catalog.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

# Keep request bodies small.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

REST_FRAMEWORK = {
    # No end-user authentication yet: a view without its own permission_classes answers 401/403.
    # Add an authenticator for your users' tokens (the payments service introspects them at the
    # monolith: extracted/payments/payments_service/auth.py in the Strangler Kit repository).
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "strangler.django.errors.api_exception_handler",  # the kit's error shape
    "DEFAULT_SCHEMA_CLASS": "strangler.django.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = spectacular_settings(TITLE="The catalog service", VERSION="0.1.0")

# Events: the broker shared with the monolith (configured, else the embedded Redis `make run` starts).
CELERY_BROKER_URL, CELERY_BROKER_TRANSPORT_OPTIONS = celery_broker_from_env()
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = int(os.environ.get("CELERY_PREFETCH_MULTIPLIER", "16"))
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The service's own queue: its worker consumes only this one.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "catalog")
OUTBOX_CELERY_APP = "catalog_service.celery.app"
# After a broker outage the relay re-publishes the events of this many seconds before it (strangler.django.outbox.replay).
OUTBOX_REPLAY_WINDOW = float(os.environ.get("OUTBOX_REPLAY_WINDOW", "60"))
# A delivery no consumer acknowledged is sent again after this many seconds (strangler.django.outbox.acks).
OUTBOX_ACK_TIMEOUT = float(os.environ.get("OUTBOX_ACK_TIMEOUT", "600"))
# Every event the service writes (catalog.ProductSynced, the snapshot of each product write, for the
# monolith's copy) goes to the monolith's queue unless told otherwise. The monolith sends its own
# product snapshots here, to CELERY_TASK_DEFAULT_QUEUE, when its CATALOG_SYNC_QUEUES names it; the
# consumer that merges them is registered by the catalog app itself (monolith/catalog/handlers.py).
OUTBOX_ROUTES = {"*": _queues("OUTBOX_QUEUES", "monolith")}
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {"task": "kernel.idempotency_purge", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = _flag("CELERY_TASK_ALWAYS_EAGER", False)
IDEMPOTENCY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))

# The extraction engine (strangler.django.extraction): this service's spec, and who writes here (the
# "origin" of its catalog.ProductSynced snapshots; the monolith says "monolith").
STRANGLER_EXTRACTIONS = {"catalog": "monolith.catalog.extraction.SPEC"}
CATALOG_ORIGIN = SERVICE_NAME
# Whether a fresh database holds the stock: "standby" (the default) until the monolith hands it over
# with `manage.py catalog_stock_handover --to service`; "owner" only for a catalog with no monolith
# beside it. A database that has its custody row ignores this (monolith/catalog/custody.py).
CATALOG_STOCK_CUSTODY = os.environ.get("CATALOG_STOCK_CUSTODY", "standby")

# Internal credentials (strangler.proxy.credentials): what this service accepts and how it signs its calls.
# Keys per caller->audience pair: INTERNAL_AUTH_KEYS (JSON {"caller>audience": key}) when given, else
# derived from the root secret INTERNAL_AUTH_SECRET. Only credentials minted for SERVICE_NAME pass.
INTERNAL_AUTH_KEYS = internal_auth_keys_from_env()
INTERNAL_AUTH_SECRET = os.environ.get("INTERNAL_AUTH_SECRET", "" if INTERNAL_AUTH_KEYS else _INSECURE_INTERNAL_SECRET)
if not DEBUG and INTERNAL_AUTH_SECRET == _INSECURE_INTERNAL_SECRET:
    raise ImproperlyConfigured("INTERNAL_AUTH_SECRET must be set when DEBUG is off")
INTERNAL_AUTH_CALLER = SERVICE_NAME
INTERNAL_AUTH_PATHS = {
    # Client traffic comes through the proxy (or the monolith's remote client).
    "/api/": ["strangler", "monolith"],
    # The monolith's calls: its remote client, sync and backfill.
    "/internal/": ["monolith"],
    # The kit's status counts (strangler.django.status), for the proxy's dashboard.
    "/internal/strangler/": ["strangler"],
}

MONOLITH_URL = os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001").rstrip("/")

# Tracing (strangler.django.tracing): on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says so.
TRACING_SERVICE_NAME = SERVICE_NAME

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
