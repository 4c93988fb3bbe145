from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "monolith.orders"
    label = "orders"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the event consumers with the kit's event bus (web, worker and tests alike).
        from monolith.orders import handlers  # noqa: F401
