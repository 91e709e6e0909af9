from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "controlplane.api"
    label = "api"

    def ready(self) -> None:
        # Registers the OpenAPI extension of the bearer-token authentication.
        from controlplane.api import schema  # noqa: F401
