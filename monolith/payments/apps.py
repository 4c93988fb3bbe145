from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "monolith.payments"
    label = "payments"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the sync consumer with the kit's event bus (monolith and payments service alike).
        from monolith.payments import handlers  # noqa: F401
