from django.apps import AppConfig


class CouplingConfig(AppConfig):
    name = "strangler.django.coupling"
    label = "strangler_coupling"
    verbose_name = "Strangler Kit: coupling report"
