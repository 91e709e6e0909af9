"""Provider health from what the edge gateways saw: their attempts against each
provider over the last minutes (ClickHouse ``provider_attempts_minute``), written on the
provider row every minute for the pages and the API.

The thresholds live in ``controlplane.dashboards.health`` with the edge nodes' own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from controlplane.core.tenancy import all_tenants_context
from controlplane.dashboards import queries
from controlplane.dashboards.health import PROVIDER_WINDOW, provider_health
from controlplane.gateway.models import Provider


def provider_health_refresh(*, now: dt.datetime | None = None) -> dict[str, str]:
    """Rate every provider on its recent attempts; return ``{name: health}``. Idempotent:
    the same attempts give the same states. Providers are named the same in every
    tenant's traffic (the name is unique), so one all-tenant read serves them all."""
    moment = now or timezone.now()
    attempts: dict[str, dict[str, Any]] = {
        str(row["provider"]): row
        for row in queries.provider_attempts_recent(since=moment - PROVIDER_WINDOW, until=moment)
    }
    states = {}
    with all_tenants_context(), transaction.atomic():
        for provider in Provider.unscoped.select_for_update():
            row = attempts.get(provider.name, {})
            health = provider_health(
                attempts=int(row.get("attempts") or 0),
                failures=int(row.get("failures") or 0),
                breaker_trips=int(row.get("breaker_trips") or 0),
            )
            states[provider.name] = health
            provider.health, provider.health_checked_at = health, moment
            provider.save(update_fields=["health", "health_checked_at"])
    return states
