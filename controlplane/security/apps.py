from django.apps import AppConfig


class SecurityConfig(AppConfig):
    """Behavioral security (whitepaper section 5, docs/security.md)."""

    name = "controlplane.security"
    label = "security"
