"""Registering sites, edge nodes, devices and agents, and issuing their credentials.

Secrets are returned once, to the caller, and stored only as SHA-256 digests (the node
token, which the control plane must present, is stored encrypted). Every change raises
the site's ``config_version`` so the pull worker pushes a new config to its edge nodes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from controlplane.agents.models import (
    Agent,
    AgentKey,
    Device,
    EdgeNode,
    EdgeNodeVersionChange,
    Site,
)
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import tenant_context
from tenants.models import Department, Membership, Tenant


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _bump_config(site_id: uuid.UUID) -> None:
    Site.objects.filter(pk=site_id).update(config_version=F("config_version") + 1)


def _bump_config_of_device(device: Device | None) -> None:
    if device is not None:
        _bump_config(device.site_id)


def site_create(
    *,
    actor: Actor,
    tenant: Tenant,
    name: str,
    location: str = "",
    collector_auto_register: bool = False,
) -> Site:
    with tenant_context(tenant):
        site = Site(
            tenant=tenant,
            name=name.strip(),
            location=location.strip(),
            collector_auto_register=collector_auto_register,
        )
        site.full_clean()
        site.save(force_insert=True)
        audit_record(
            actor=actor,
            action="site.created",
            target=site,
            tenant_id=tenant.pk,
            after=snapshot(site),
        )
    return site


def site_update(*, actor: Actor, site: Site, **changes: Any) -> Site:
    """Change any of ``Site.AUDIT_FIELDS``; raises the site's version, so its edges
    learn of it (``collector_auto_register`` is in their bundle)."""
    unknown = set(changes) - set(Site.AUDIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown site fields: {', '.join(sorted(unknown))}")
    with tenant_context(site.tenant_id), transaction.atomic():
        before = snapshot(site)
        for field, value in changes.items():
            setattr(site, field, value.strip() if isinstance(value, str) else value)
        site.full_clean()
        site.save(update_fields=list(changes))
        _bump_config(site.pk)
        audit_record(
            actor=actor,
            action="site.updated",
            target=site,
            tenant_id=site.tenant_id,
            before=before,
            after=snapshot(site),
        )
    return site


def edge_node_create(
    *,
    actor: Actor,
    site: Site,
    name: str,
    pull_url: str,
    agent_url: str,
    expected_version: str = "",
) -> tuple[EdgeNode, str]:
    """Register an edge node; return it with its node token (shown once)."""
    token = "acpn_" + secrets.token_urlsafe(32)
    with tenant_context(site.tenant_id):
        node = EdgeNode(
            tenant_id=site.tenant_id,
            site=site,
            name=name.strip(),
            pull_url=pull_url,
            agent_url=agent_url,
            encrypted_token=key_ring().encrypt(token),
            expected_version=expected_version,
        )
        node.full_clean()
        node.save(force_insert=True)
        audit_record(
            actor=actor,
            action="edge_node.created",
            target=node,
            tenant_id=site.tenant_id,
            after=snapshot(node),
        )
    return node, token


def edge_node_token(node: EdgeNode) -> str:
    return key_ring().decrypt(node.encrypted_token)


def edge_node_version_observe(
    *, node: EdgeNode, version: str, at: dt.datetime
) -> EdgeNodeVersionChange | None:
    """Record a version the node reports for the first time since its last change (its
    first report, an upgrade or a rollback); None when it is the version on record."""
    if not version:
        return None
    with tenant_context(node.tenant_id):
        latest = (
            EdgeNodeVersionChange.objects.filter(edge_node=node)
            .order_by("-observed_at")
            .values_list("version", flat=True)
            .first()
        )
        if latest == version:
            return None
        return EdgeNodeVersionChange.objects.create(
            tenant_id=node.tenant_id,
            edge_node=node,
            version=version[:40],
            previous_version=latest or "",
            observed_at=at,
        )


def device_register(
    *, actor: Actor, site: Site, name: str, fingerprint: str = ""
) -> tuple[Device, str]:
    """Register hardware at a site; return it with its device key (shown once)."""
    device_key = "acpd_" + secrets.token_urlsafe(32)
    with tenant_context(site.tenant_id):
        device = Device(
            tenant_id=site.tenant_id,
            site=site,
            name=name.strip(),
            fingerprint=fingerprint,
            key_sha256=sha256_hex(device_key),
        )
        device.full_clean()
        device.save(force_insert=True)
        _bump_config(site.pk)
        audit_record(
            actor=actor,
            action="device.registered",
            target=device,
            tenant_id=site.tenant_id,
            after=snapshot(device),
        )
    return device, device_key


def device_rotate_key(*, actor: Actor, device: Device) -> str:
    """Give the device a new key; the old one stops working at the next config push."""
    device_key = "acpd_" + secrets.token_urlsafe(32)
    with tenant_context(device.tenant_id):
        device.key_sha256 = sha256_hex(device_key)
        device.save(update_fields=["key_sha256"])
        _bump_config(device.site_id)
        audit_record(
            actor=actor, action="device.key_rotated", target=device, tenant_id=device.tenant_id
        )
    return device_key


def device_revoke(*, actor: Actor, device: Device) -> None:
    with tenant_context(device.tenant_id):
        before = snapshot(device)
        device.revoked_at = timezone.now()
        device.save(update_fields=["revoked_at"])
        _bump_config(device.site_id)
        audit_record(
            actor=actor,
            action="device.revoked",
            target=device,
            tenant_id=device.tenant_id,
            before=before,
            after=snapshot(device),
        )


def _check_same_tenant(agent: Agent) -> None:
    """The agent's department, owner and device must be its own tenant's.

    Runs inside the agent's tenant context, where another tenant's rows do not exist.
    """
    errors: dict[str, str] = {}
    if agent.department_id and not Department.objects.filter(pk=agent.department_id).exists():
        errors["department"] = "Choose a department of this tenant."
    if agent.device_id and not Device.objects.filter(pk=agent.device_id).exists():
        errors["device"] = "Choose a device of this tenant."
    if agent.site_id and not Site.objects.filter(pk=agent.site_id).exists():
        errors["site"] = "Choose a site of this tenant."
    if agent.owner_id and not Membership.objects.filter(user_id=agent.owner_id).exists():
        errors["owner"] = "Choose a person of this tenant."
    if errors:
        raise ValidationError(errors)


def agent_create(*, actor: Actor, tenant: Tenant, name: str, **fields: Any) -> Agent:
    """Register an agent. ``fields`` are any of Agent.AUDIT_FIELDS but name and status."""
    unknown = set(fields) - (set(Agent.AUDIT_FIELDS) - {"name", "status"})
    if unknown:
        raise ValueError(f"unknown agent fields: {', '.join(sorted(unknown))}")
    with tenant_context(tenant):
        agent = Agent(tenant=tenant, name=name.strip(), **fields)
        agent.full_clean()
        _check_same_tenant(agent)
        agent.save(force_insert=True)
        _bump_config_of_device(agent.device)
        if agent.site_id:
            _bump_config(agent.site_id)
        audit_record(
            actor=actor,
            action="agent.created",
            target=agent,
            tenant_id=tenant.pk,
            after=snapshot(agent),
        )
    return agent


def agent_update(*, actor: Actor, agent: Agent, **changes: Any) -> Agent:
    unknown = set(changes) - set(Agent.AUDIT_FIELDS)
    if unknown:
        raise ValueError(f"unknown agent fields: {', '.join(sorted(unknown))}")
    with tenant_context(agent.tenant_id):
        before = snapshot(agent)
        old_device, old_site = agent.device, agent.site_id
        for field, value in changes.items():
            setattr(agent, field, value)
        agent.full_clean()
        _check_same_tenant(agent)
        agent.save(update_fields=list(changes))
        for device in {old_device, agent.device}:
            _bump_config_of_device(device)
        for site_id in {old_site, agent.site_id}:
            if site_id is not None:
                _bump_config(site_id)
        audit_record(
            actor=actor,
            action="agent.updated",
            target=agent,
            tenant_id=agent.tenant_id,
            before=before,
            after=snapshot(agent),
        )
    return agent


def agent_key_issue(*, actor: Actor, agent: Agent) -> tuple[AgentKey, str]:
    """A new key for ``agent``; return it with the plaintext (shown once).

    Refused for a disabled agent or one without a usable device: such a key could
    never work, and issuing it would only spread a secret.
    """
    if agent.status != Agent.Status.ACTIVE:
        raise ValidationError("This agent is disabled; enable it before issuing a key.")
    if agent.device is None or agent.device.revoked_at is not None:
        raise ValidationError("This agent has no usable device; register one first.")
    key_id = secrets.token_hex(6)
    plaintext = f"acpk_{key_id}_{secrets.token_urlsafe(32)}"
    with tenant_context(agent.tenant_id):
        key = AgentKey.objects.create(
            tenant_id=agent.tenant_id, agent=agent, key_id=key_id, key_sha256=sha256_hex(plaintext)
        )
        _bump_config_of_device(agent.device)
        audit_record(
            actor=actor,
            action="agent_key.issued",
            target=key,
            tenant_id=agent.tenant_id,
            after={**snapshot(key), "agent": str(agent.pk)},
        )
    return key, plaintext


def agent_credentials_issue(*, actor: Actor, agent: Agent) -> tuple[AgentKey, str, str]:
    """A new agent key and a new key for the agent's device, in one transaction.

    Returns the key and both plaintexts (shown once). The device's previous key stops
    working, for every agent on that device.
    """
    with tenant_context(agent.tenant_id):
        key, agent_key = agent_key_issue(actor=actor, agent=agent)
        assert agent.device is not None  # agent_key_issue refused otherwise
        device_key = device_rotate_key(actor=actor, device=agent.device)
    return key, agent_key, device_key


def agent_key_revoke(*, actor: Actor, key: AgentKey) -> None:
    with tenant_context(key.tenant_id), transaction.atomic():
        before = snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        agent = key.agent
        _bump_config_of_device(agent.device)
        audit_record(
            actor=actor,
            action="agent_key.revoked",
            target=key,
            tenant_id=key.tenant_id,
            before=before,
            after=snapshot(key),
        )
