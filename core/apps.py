from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"

    def ready(self) -> None:
        from core import api_schema  # noqa: F401  (registers the OpenAPI auth scheme)
