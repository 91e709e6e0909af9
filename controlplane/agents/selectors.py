"""Reads of the registry."""

from __future__ import annotations

from typing import Any

from controlplane.agents.models import AgentKey, Device, EdgeNode, Site
from controlplane.core.tenancy import tenant_context


def site_registry(site: Site) -> dict[str, list[dict[str, Any]]]:
    """The devices of a site and the keys of agents registered on them, as digests only.

    Ordered, so the same registry always gives the same document. The caller holds the
    site's tenant scope.
    """
    devices = Device.objects.filter(site=site).order_by("pk")
    keys = (
        AgentKey.objects.filter(agent__device__site=site).select_related("agent").order_by("key_id")
    )
    return {
        "devices": [
            {
                "device_id": str(d.pk),
                "tenant_id": str(d.tenant_id),
                "key_sha256": d.key_sha256,
                "revoked": d.revoked_at is not None,
            }
            for d in devices
        ],
        "agent_keys": [
            {
                "key_id": k.key_id,
                "key_sha256": k.key_sha256,
                "agent_id": str(k.agent_id),
                "tenant_id": str(k.tenant_id),
                "department_id": str(k.agent.department_id) if k.agent.department_id else None,
                "device_id": str(k.agent.device_id),
                "revoked": k.revoked_at is not None or k.agent.status != "active",
            }
            for k in keys
        ],
    }


def edge_config_document(node: EdgeNode) -> dict[str, Any]:
    """The plain v1 configuration of the node (docs/edge-protocol.md): its site's
    devices and the keys of agents registered on them, as digests only."""
    with tenant_context(node.tenant_id):
        site = node.site
        return {
            "version": site.config_version,
            "node_id": str(node.pk),
            "site_id": str(site.pk),
            **site_registry(site),
        }
