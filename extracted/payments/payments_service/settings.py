"""Payments service settings. Everything comes from the environment, with defaults for a local run.

The service installs the kit's Django apps (``strangler.django.outbox``,
``strangler.django.idempotency``) and only two apps of the monolith package, ``monolith.kernel``
and ``monolith.payments``; it has no users table (end users are introspected at the monolith).
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
    "django.contrib.auth",  # DRF's request machinery imports it; no user table is used
    "rest_framework",
    "drf_spectacular",
    "strangler.django.outbox",
    "strangler.django.idempotency",
    "strangler.django.extraction",
    "monolith.kernel",
    "monolith.payments",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "strangler.django.internal_auth.InternalCredentialMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "payments_service.urls"
WSGI_APPLICATION = "payments_service.wsgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {"context_processors": []},
    }
]

DATABASES = {"default": database_from_env(VAR_DIR / "payments.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_TZ = True

# Keep request bodies small: the API never needs more.
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["payments_service.auth.IntrospectedTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # The kit's error shape; the service's own exceptions keep their codes (errors.py).
    "EXCEPTION_HANDLER": "payments_service.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "strangler.django.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
}
# The kit's settings make the document exact (strangler.django.openapi): error bodies, 401/400/415/404.
SPECTACULAR_SETTINGS = spectacular_settings(TITLE="Strangler Kit shop (payments service)", VERSION="1.0.0",
                                            hooks=("payments_service.schema.postprocess_identity_unavailable",))

# Events: the broker shared with the monolith (configured, else the embedded Redis `make run` starts).
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
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "payments")
OUTBOX_CELERY_APP = "payments_service.celery.app"
# After a broker outage the relay re-publishes the events of this many seconds before it (strangler.django.outbox.replay).
OUTBOX_REPLAY_WINDOW = float(os.environ.get("OUTBOX_REPLAY_WINDOW", "60"))
# A delivery no consumer acknowledged is sent again after this many seconds (strangler.django.outbox.acks).
OUTBOX_ACK_TIMEOUT = float(os.environ.get("OUTBOX_ACK_TIMEOUT", "600"))
# Every event the service writes (PaymentCaptured/Failed/Refunded for orders and notifications,
# PaymentSynced for the monolith's copy) goes to the monolith's queue unless told otherwise.
OUTBOX_ROUTES = {"*": _queues("OUTBOX_QUEUES", "monolith")}
CELERY_BEAT_SCHEDULE = {
    # Charges whose processor answer was lost: asked again with the same key (monolith.payments.tasks).
    "resolve-unknown-charges": {"task": "payments.charges_resolve_unknown", "schedule": 60.0},
    "resolve-unknown-refunds": {"task": "payments.refunds_resolve_unknown", "schedule": 60.0},
    "purge-idempotency-keys": {"task": "kernel.idempotency_purge", "schedule": 3600.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_TASK_ALWAYS_EAGER = _flag("CELERY_TASK_ALWAYS_EAGER", False)

# Payments processor adapter: "fake" is deterministic, with test-card tokens.
PAYMENTS_PROCESSOR = os.environ.get("PAYMENTS_PROCESSOR", "fake")
# The order-ownership check of public charges (monolith.payments.ownership): orders live in the
# monolith, so the service asks it whose order a charge names (payments_service.orders).
PAYMENTS_ORDER_OWNED = "payments_service.orders.order_owned"
# Who wrote a payment snapshot (payments.PaymentSynced "origin"); the monolith says "monolith".
PAYMENTS_ORIGIN = "payments-service"
STRANGLER_EXTRACTIONS = {"payments": "monolith.payments.extraction.SPEC"}
IDEMPOTENCY_TTL_HOURS = int(os.environ.get("IDEMPOTENCY_TTL_HOURS", "24"))

# Internal credentials (strangler.proxy.credentials): what this service accepts and how it signs its calls.
# Keys per caller->audience pair: INTERNAL_AUTH_KEYS (JSON {"caller>audience": key}) when given, else
# derived from the root secret INTERNAL_AUTH_SECRET. Only credentials minted for "payments-service" pass.
INTERNAL_AUTH_KEYS = internal_auth_keys_from_env()
INTERNAL_AUTH_SECRET = os.environ.get("INTERNAL_AUTH_SECRET", "" if INTERNAL_AUTH_KEYS else _INSECURE_INTERNAL_SECRET)
if not DEBUG and INTERNAL_AUTH_SECRET == _INSECURE_INTERNAL_SECRET:
    raise ImproperlyConfigured("INTERNAL_AUTH_SECRET must be set when DEBUG is off")
INTERNAL_AUTH_CALLER = "payments-service"
INTERNAL_AUTH_PATHS = {
    # Client traffic comes through the proxy (or the monolith's remote client); then a user token.
    "/api/": ["strangler", "monolith"],
    # The monolith's remote payments implementation, sync and backfill.
    "/internal/": ["monolith"],
    # The kit's status counts (strangler.django.status), for the proxy's dashboard.
    "/internal/strangler/": ["strangler"],
}

# End-user tokens are introspected at the monolith, which owns users.
MONOLITH_URL = os.environ.get("MONOLITH_URL", "http://127.0.0.1:8001").rstrip("/")
IDENTITY_CONNECT_TIMEOUT = float(os.environ.get("IDENTITY_CONNECT_TIMEOUT", "0.5"))
IDENTITY_READ_TIMEOUT = float(os.environ.get("IDENTITY_READ_TIMEOUT", "2"))
# Order owners are asked of the monolith too (payments_service.orders), for public charges.
ORDERS_CONNECT_TIMEOUT = float(os.environ.get("ORDERS_CONNECT_TIMEOUT", "0.5"))
ORDERS_READ_TIMEOUT = float(os.environ.get("ORDERS_READ_TIMEOUT", "2"))
ORDERS_RETRIES = int(os.environ.get("ORDERS_RETRIES", "2"))

# Tracing (strangler.django.tracing): on when OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_TRACES_EXPORTER says so.
# Web processes are "payments-service", the worker "payments-service-worker", the relay this name + "-relay".
TRACING_SERVICE_NAME = "payments-service"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}
