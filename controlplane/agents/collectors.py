"""Site collectors: the credential of an OpenTelemetry Collector at a site, which may
send the spans of any agent registered there (docs/edge-protocol.md, "Site
collectors"), and the agents such a collector registers.

Keys are shown once and stored as SHA-256 digests, like agent keys; each change raises
the site's ``config_version``, so the site's edges learn it at their next pull.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from controlplane.agents.models import Agent, Site, SiteCollectorKey
from controlplane.agents.services import sha256_hex
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.services import bump_site
from edge.collector import KEY_PREFIX, MAX_NAME, registered_agent_id

REGISTRAR = Actor.system("site collector")


def _new_secret() -> tuple[str, str]:
    """(key_id, plaintext ``acpc_<key_id>_<secret>``)."""
    key_id = secrets.token_hex(6)
    return key_id, f"{KEY_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def collector_key_issue(*, actor: Actor, site: Site, name: str) -> tuple[SiteCollectorKey, str]:
    """A new collector key for ``site``; return it with the plaintext (shown once)."""
    key_id, plaintext = _new_secret()
    with tenant_context(site.tenant_id), transaction.atomic():
        key = SiteCollectorKey(
            tenant_id=site.tenant_id,
            site=site,
            name=name.strip(),
            key_id=key_id,
            key_sha256=sha256_hex(plaintext),
        )
        key.full_clean()
        key.save(force_insert=True)
        bump_site(site.pk)
        audit_record(
            actor=actor,
            action="site_collector_key.issued",
            target=key,
            tenant_id=site.tenant_id,
            after={**snapshot(key), "site": str(site.pk)},
        )
    return key, plaintext


def collector_key_rotate(*, actor: Actor, key: SiteCollectorKey) -> str:
    """A new secret (and key id) for the same collector; the old one stops working when
    the site's edges take the next configuration. Refused for a revoked key."""
    if key.revoked_at is not None:
        raise ValidationError("This collector key is revoked; issue a new one.")
    key_id, plaintext = _new_secret()
    with tenant_context(key.tenant_id), transaction.atomic():
        before = snapshot(key)
        key.key_id, key.key_sha256, key.rotated_at = key_id, sha256_hex(plaintext), timezone.now()
        key.save(update_fields=["key_id", "key_sha256", "rotated_at"])
        bump_site(key.site_id)
        audit_record(
            actor=actor,
            action="site_collector_key.rotated",
            target=key,
            tenant_id=key.tenant_id,
            before=before,
            after=snapshot(key),
        )
    return plaintext


def collector_key_revoke(*, actor: Actor, key: SiteCollectorKey) -> None:
    with tenant_context(key.tenant_id), transaction.atomic():
        before = snapshot(key)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        bump_site(key.site_id)
        audit_record(
            actor=actor,
            action="site_collector_key.revoked",
            target=key,
            tenant_id=key.tenant_id,
            before=before,
            after=snapshot(key),
        )


def site_agents(site: Site) -> Any:
    """The agents a site collector may speak for: on a device at the site, or registered
    at it. The caller holds the site's tenant scope."""
    return Agent.objects.filter(Q(device__site=site) | Q(site=site)).distinct()


def bundle_sections(site: Site) -> dict[str, list[dict[str, Any]]]:
    """The ``collector_keys`` and ``site_agents`` sections of the site's bundle (digests
    only; ordered, so the same state gives the same document)."""
    keys = SiteCollectorKey.objects.filter(site=site).order_by("key_id")
    agents = site_agents(site).filter(status=Agent.Status.ACTIVE).order_by("pk")
    return {
        "collector_keys": [
            {
                "key_id": key.key_id,
                "key_sha256": key.key_sha256,
                "tenant_id": str(key.tenant_id),
                "auto_register": site.collector_auto_register,
                "revoked": key.revoked_at is not None,
            }
            for key in keys
        ],
        "site_agents": [
            {
                "agent_id": str(agent.pk),
                "tenant_id": str(agent.tenant_id),
                "department_id": str(agent.department_id) if agent.department_id else None,
                "name": agent.name,
            }
            for agent in agents
        ],
    }


def collector_agents_register(
    *, tenant_id: uuid.UUID, site_id: uuid.UUID, names: Mapping[uuid.UUID, str]
) -> list[Agent]:
    """Register the agents a site collector named (agent id → name, as the edge stamped
    them on their spans); idempotent: an agent that exists is left as it is.

    The edge registered them under the configuration it had, so they are registered
    even if the site has stopped auto-registration since; an id that is not the one the
    edge derives from the site and the name is refused (ValueError). A name already
    taken in the tenant (by an agent elsewhere) gets the site's name appended.
    """
    created = []
    with tenant_context(tenant_id), transaction.atomic():
        site = Site.objects.get(pk=site_id)
        existing = set(Agent.objects.filter(pk__in=list(names)).values_list("pk", flat=True))
        for agent_id, name in sorted(names.items(), key=lambda item: item[1]):
            if agent_id in existing:
                continue
            if not name or len(name) > MAX_NAME or name != name.strip():
                raise ValueError(f"agent name {name!r} cannot be registered")
            if str(agent_id) != registered_agent_id(str(site_id), name):
                raise ValueError(f"agent id {agent_id} is not the one site {site_id} gives {name}")
            unique = name
            if Agent.objects.filter(name=unique).exists():
                unique = f"{name} ({site.name})"[:MAX_NAME]
            agent = Agent(id=agent_id, tenant_id=tenant_id, name=unique, site=site)
            agent.full_clean()
            agent.save(force_insert=True)
            created.append(agent)
            audit_record(
                actor=REGISTRAR,
                action="agent.registered_by_collector",
                target=agent,
                tenant_id=tenant_id,
                after={**snapshot(agent), "named_by_collector": name},
            )
        if created:
            bump_site(site.pk)
    return created
