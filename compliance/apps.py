from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """SOC 2 evidence pages per trust service criterion (compliance issue)."""

    name = "compliance"
