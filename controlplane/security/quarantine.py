"""Quarantine: an agent, a device or a whole tenant whose model calls every edge of the
tenant refuses (docs/decisions/0027-quarantine-fast-path.md).

A quarantine or release raises the config version of the tenant's sites (the bundle
carries a ``quarantine`` section) and, once committed, pushes the new bundle to each of
the tenant's edge nodes at once on the ``security`` queue instead of waiting for the
next pull. Every start and release is audited.
"""

from __future__ import annotations

import datetime as dt
import uuid
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from controlplane.agents.models import Agent, Device, EdgeNode
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.services import bump_sites
from controlplane.security.models import Alert, Quarantine
from tenants.models import Tenant


def _push_after_commit(tenant_id: uuid.UUID) -> None:
    from controlplane.security import tasks

    node_ids = list(EdgeNode.objects.filter(tenant_id=tenant_id).values_list("pk", flat=True))
    for node_id in node_ids:
        transaction.on_commit(partial(tasks.push_config.delay, str(node_id)))


def quarantine_start(
    *,
    actor: Actor,
    tenant: Tenant,
    scope: str,
    target_id: uuid.UUID,
    reason: str,
    alert: Alert | None = None,
    now: dt.datetime | None = None,
) -> Quarantine:
    """Quarantine one target; ValidationError if it is not the tenant's or already in
    quarantine. ``now``: when it started, if not now (the demo's history)."""
    with tenant_context(tenant):
        if scope == Quarantine.Scope.AGENT:
            exists = Agent.objects.filter(pk=target_id).exists()
        elif scope == Quarantine.Scope.DEVICE:
            exists = Device.objects.filter(pk=target_id).exists()
        elif scope == Quarantine.Scope.TENANT:
            exists = target_id == tenant.pk
        else:
            raise ValidationError({"scope": "Give agent, device or tenant."})
        if not exists:
            raise ValidationError({"target_id": f"No {scope} with this id in the tenant."})
        quarantine = Quarantine(
            tenant=tenant,
            scope=scope,
            target_id=target_id,
            reason=reason,
            alert=alert,
            started_at=now or timezone.now(),
            started_by=actor.label,
        )
        try:
            with transaction.atomic():
                quarantine.save()
        except IntegrityError:
            raise ValidationError(
                {"target_id": f"This {scope} is in quarantine already."}
            ) from None
        audit_record(
            actor=actor,
            action="security.quarantine_started",
            target=quarantine,
            tenant_id=tenant.pk,
            after=snapshot(quarantine),
        )
        bump_sites(tenant_id=tenant.pk)
        _push_after_commit(tenant.pk)
    return quarantine


def quarantine_release(
    *, actor: Actor, quarantine: Quarantine, now: dt.datetime | None = None
) -> Quarantine:
    with tenant_context(quarantine.tenant_id):
        quarantine = Quarantine.objects.select_for_update().get(pk=quarantine.pk)
        if quarantine.released_at is not None:
            raise ValidationError("This quarantine was released already.")
        before = snapshot(quarantine)
        quarantine.released_at = now or timezone.now()
        quarantine.released_by = actor.label
        quarantine.save(update_fields=["released_at", "released_by"])
        audit_record(
            actor=actor,
            action="security.quarantine_released",
            target=quarantine,
            tenant_id=quarantine.tenant_id,
            before=before,
            after=snapshot(quarantine),
        )
        bump_sites(tenant_id=quarantine.tenant_id)
        _push_after_commit(quarantine.tenant_id)
    return quarantine


EMPTY_QUARANTINE: dict[str, list[str]] = {"agents": [], "devices": [], "tenants": []}


def bundle_section(tenant_id: uuid.UUID) -> dict[str, Any]:
    """The ``quarantine`` section of a bundle: what the edge refuses (caller holds the
    tenant's context)."""
    active = Quarantine.objects.filter(tenant_id=tenant_id, released_at__isnull=True)
    targets: dict[str, list[str]] = {"agents": [], "devices": [], "tenants": []}
    for quarantine in active:
        targets[f"{quarantine.scope}s"].append(str(quarantine.target_id))
    return {name: sorted(ids) for name, ids in targets.items()}
