"""The idempotency app's registration: label ``strangler_idempotency``."""

from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "strangler.django.idempotency"
    label = "strangler_idempotency"
    verbose_name = "Strangler idempotency keys"
    default_auto_field = "django.db.models.BigAutoField"
