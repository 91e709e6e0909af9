from typing import Any

from django.apps import AppConfig


class GatewayConfig(AppConfig):
    """Providers, policies, routes, budgets, and the configuration bundle for edges."""

    name = "controlplane.gateway"
    label = "gateway"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        setting_changed.connect(_keys_changed, dispatch_uid="gateway-keys")


def _keys_changed(*, setting: str, **kwargs: Any) -> None:
    """Tests swap key rings with override_settings; forget the cached ones."""
    if setting == "FIELD_ENCRYPTION_KEYS":
        from controlplane.core.crypto import key_ring

        key_ring.cache_clear()
    elif setting == "BUNDLE_SIGNING_KEYS":
        from controlplane.gateway.signing import signing_ring

        signing_ring.cache_clear()
