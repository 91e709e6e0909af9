from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    """Retention policies, legal holds, retention runs and data-subject requests
    (docs/privacy.md)."""

    name = "compliance.privacy"
    label = "privacy"
