from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "monolith.notifications"
    label = "notifications"
    default_auto_field = "django.db.models.BigAutoField"
