"""The package build, on the maintenance queue (listed in CELERY_IMPORTS)."""

from __future__ import annotations

import uuid

from celery import shared_task

from compliance.packages.services import package_build


@shared_task(name="compliance.build_evidence_package")
def build_evidence_package(package_id: str) -> None:
    """Build one package (by id, re-read here); does nothing once it is built."""
    package_build(package_id=uuid.UUID(package_id))
