"""The outbox app's registration: label ``strangler_outbox`` (its tables are strangler_outbox_*)."""

from django.apps import AppConfig


class OutboxConfig(AppConfig):
    name = "strangler.django.outbox"
    label = "strangler_outbox"
    verbose_name = "Strangler outbox"
    default_auto_field = "django.db.models.BigAutoField"
