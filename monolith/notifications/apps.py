from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "monolith.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the event consumers with the kit's event bus (web, worker and tests alike).
        from monolith.notifications import handlers  # noqa: F401
