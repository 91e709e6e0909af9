"""Celery tasks of behavioral security, on the ``security`` queue: thin, by id, idempotent."""

from __future__ import annotations

import logging
import uuid
from functools import partial

from celery import shared_task
from django.db import transaction

from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security import alerts, notify, services
from controlplane.security.models import Incident, Quarantine, SecuritySettings

logger = logging.getLogger(__name__)
AUTO_QUARANTINE = Actor.system("security.auto_quarantine")


@shared_task(name="security.schedule_detection", ignore_result=True)
def schedule_detection() -> int:
    """Every minute: one detection run per tenant."""
    with all_tenants_context():
        tenant_ids = services.tenants_to_judge()
    for tenant_id in tenant_ids:
        transaction.on_commit(partial(run_detection.delay, str(tenant_id)))
    return len(tenant_ids)


@shared_task(name="security.run_detection", ignore_result=True)
def run_detection(tenant_id: str, fresh: bool = False) -> None:
    """``fresh``: after a pull brought new data, also judge the minutes still open."""
    result = services.detection_run(tenant_id=uuid.UUID(tenant_id), fresh=fresh)
    if result.created:
        logger.info("tenant %s: %d new alerts", tenant_id, result.created)


@shared_task(name="security.schedule_learning", ignore_result=True)
def schedule_learning() -> int:
    """Hourly: each tenant's edge profiles learned again from its baselines."""
    with all_tenants_context():
        tenant_ids = services.tenants_to_judge()
    for tenant_id in tenant_ids:
        transaction.on_commit(partial(learn_profiles.delay, str(tenant_id)))
    return len(tenant_ids)


@shared_task(name="security.learn_profiles", ignore_result=True)
def learn_profiles(tenant_id: str) -> None:
    from controlplane.security.profiles import profiles_learn

    changed = profiles_learn(tenant_id=uuid.UUID(tenant_id))
    if changed:
        logger.info("tenant %s: %d edge profiles changed", tenant_id, changed)


@shared_task(name="security.notify_incident", ignore_result=True)
def notify_incident(incident_id: str, severity: str) -> None:
    with all_tenants_context():
        tenant_id = Incident.unscoped.values_list("tenant_id", flat=True).get(pk=incident_id)
    with tenant_context(tenant_id):
        incident = Incident.objects.get(pk=incident_id)
        notify.notify_incident(incident, severity)


@shared_task(name="security.auto_quarantine", ignore_result=True)
def auto_quarantine(incident_id: str) -> None:
    """Quarantine the agents of a critical incident when the tenant asked for it."""
    from controlplane.security.quarantine import quarantine_start

    with all_tenants_context():
        incident = Incident.unscoped.select_related("tenant").get(pk=incident_id)
    tenant = incident.tenant
    with tenant_context(tenant):
        config = SecuritySettings.objects.filter(tenant=tenant).first()
        if config is None or not config.auto_quarantine:
            return
        alert = incident.alerts.filter(severity="critical").order_by("raised_at").first()
        if alert is None:
            return
        held = set(
            Quarantine.objects.filter(scope="agent", released_at__isnull=True).values_list(
                "target_id", flat=True
            )
        )
        for agent_id in alert.agent_ids:
            if agent_id in held:
                continue
            quarantine_start(
                actor=AUTO_QUARANTINE,
                tenant=tenant,
                scope=Quarantine.Scope.AGENT,
                target_id=agent_id,
                reason=f"critical alert: {alert.title}",
                alert=alert,
            )
        alerts.note_add(
            actor=AUTO_QUARANTINE, incident=incident, text="agents quarantined automatically"
        )


@shared_task(name="security.push_config", ignore_result=True)
def push_config(node_id: str) -> None:
    """The quarantine fast path: this node gets the new bundle now, not at its next pull."""
    from controlplane.telemetry.edge_client import EdgeUnavailable
    from controlplane.telemetry.pull import push_config_now

    try:
        push_config_now(uuid.UUID(node_id))
    except EdgeUnavailable as exc:  # the next pull pushes it
        logger.warning("fast push to edge node %s failed: %s", node_id, exc)
