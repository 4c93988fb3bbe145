from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "monolith.catalog"
    label = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Registers the product sync consumer with the kit's event bus (monolith and catalog service alike).
        from monolith.catalog import handlers  # noqa: F401
