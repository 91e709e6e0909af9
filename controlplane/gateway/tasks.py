"""Celery tasks of the gateway's configuration: thin and idempotent."""

from __future__ import annotations

from celery import shared_task

from controlplane.gateway.health import provider_health_refresh


@shared_task(name="gateway.refresh_provider_health", ignore_result=True)
def refresh_provider_health() -> None:
    provider_health_refresh()
