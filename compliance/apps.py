from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    """SOC 2 evidence pages per trust service criterion (compliance issue)."""

    name = "compliance"

    def ready(self) -> None:
        from compliance.privacy.hooks import register_evidence_hooks
        from compliance.retention import evidence_retention
        from compliance.subjects import evidence_erase, evidence_find

        register_evidence_hooks(
            retention=evidence_retention, find=evidence_find, erase=evidence_erase
        )
