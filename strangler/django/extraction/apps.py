"""The extraction app's registration: label ``strangler_extraction`` (its tables are strangler_extraction_*)."""

from django.apps import AppConfig


class ExtractionConfig(AppConfig):
    name = "strangler.django.extraction"
    label = "strangler_extraction"
    verbose_name = "Strangler extraction"
    default_auto_field = "django.db.models.BigAutoField"
