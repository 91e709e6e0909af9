from django.apps import AppConfig


class RecoveryConfig(AppConfig):
    """Backups, restores and the recovery drill (docs/operations.md)."""

    name = "controlplane.recovery"
    label = "recovery"
