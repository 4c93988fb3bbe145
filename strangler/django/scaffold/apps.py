"""The scaffold app's registration: it has no models, only the ``strangler_extract`` command."""

from django.apps import AppConfig


class ScaffoldConfig(AppConfig):
    name = "strangler.django.scaffold"
    label = "strangler_scaffold"
    verbose_name = "Strangler Kit: service scaffold"
