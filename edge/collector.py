"""Site collectors: an OpenTelemetry Collector at the site that forwards the spans of
many agents with one credential (docs/edge-protocol.md, "Site collectors").

A collector key (``acpc_<key_id>_<secret>``) may speak for any agent registered at the
edge's site. Each resource's spans go to the agent its ``agent.id`` (the agent's id, or
its name) or ``service.name`` (its name) names. An agent the site does not know is
refused, unless the key's site allows auto-registration: then the spans get the id
``uuid5(REGISTRATION_NAMESPACE, "<site id>/<name>")`` and name the agent in
``acp.edge.registered_agent``, and the control plane registers it at the next pull.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edge.auth import AuthError, Principal, bearer_token, sha256_hex
from edge.errors import ConfigError

if TYPE_CHECKING:
    from edge.config import EdgeConfig

KEY_PREFIX = "acpc_"
REGISTRATION_NAMESPACE = uuid.UUID("3c1f6a52-8e0b-4d7a-9b6e-2f4a8c0d5e17")
AGENT_ID = "agent.id"
SERVICE_NAME = "service.name"
REGISTERED = "acp.edge.registered_agent"
MAX_NAME = 200


@dataclass(frozen=True)
class CollectorKey:
    key_id: str
    key_sha256: str
    tenant_id: str
    auto_register: bool
    """Unknown agents are registered rather than refused (a site setting)."""
    revoked: bool


@dataclass(frozen=True)
class SiteAgent:
    agent_id: str
    tenant_id: str
    department_id: str | None
    name: str


@dataclass(frozen=True)
class SiteCollectors:
    keys: Mapping[str, CollectorKey] = field(default_factory=dict)
    """By the key's SHA-256 hex digest."""
    agents: Mapping[str, SiteAgent] = field(default_factory=dict)
    """Agents registered at the site, by id."""
    names: Mapping[tuple[str, str], SiteAgent] = field(default_factory=dict)
    """The same, by (tenant id, name)."""


def registered_agent_id(site_id: str, name: str) -> str:
    """The id an agent registered by a site collector gets: the same at every edge of
    the site and at every retry, so registering is idempotent."""
    return str(uuid.uuid5(REGISTRATION_NAMESPACE, f"{site_id}/{name}"))


def _canonical_uuid(value: object) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def _text(item: Mapping[str, Any], key: str, where: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}.{key} must be a non-empty string")
    return value


def _uuid(item: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> Any:
    value = item.get(key)
    if value is None and nullable:
        return None
    parsed = _canonical_uuid(value) if isinstance(value, str) else None
    if parsed is None:
        raise ConfigError(f"{where}.{key} must be a UUID")
    return parsed


def _flag(item: Mapping[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}.{key} must be true or false")
    return value


def _items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = doc.get(key) or []
    if not isinstance(items, list):
        raise ConfigError(f"{key} must be an array")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{key}[{index}] must be an object")
    return items


def parse_collectors(doc: Mapping[str, Any]) -> SiteCollectors:
    """The optional ``collector_keys`` and ``site_agents`` sections."""
    keys: dict[str, CollectorKey] = {}
    for index, item in enumerate(_items(doc, "collector_keys")):
        where = f"collector_keys[{index}]"
        digest = _text(item, "key_sha256", where).lower()
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ConfigError(f"{where}.key_sha256 must be 64 hex characters")
        if digest in keys:
            raise ConfigError(f"{where}.key_sha256 is listed twice")
        keys[digest] = CollectorKey(
            key_id=_text(item, "key_id", where),
            key_sha256=digest,
            tenant_id=_uuid(item, "tenant_id", where),
            auto_register=_flag(item, "auto_register", where),
            revoked=_flag(item, "revoked", where),
        )
    agents: dict[str, SiteAgent] = {}
    names: dict[tuple[str, str], SiteAgent] = {}
    for index, item in enumerate(_items(doc, "site_agents")):
        where = f"site_agents[{index}]"
        agent = SiteAgent(
            agent_id=_uuid(item, "agent_id", where),
            tenant_id=_uuid(item, "tenant_id", where),
            department_id=_uuid(item, "department_id", where, nullable=True),
            name=_text(item, "name", where),
        )
        agents[agent.agent_id] = agent
        names[(agent.tenant_id, agent.name)] = agent
    return SiteCollectors(keys, agents, names)


@dataclass(frozen=True)
class Collector:
    """A site collector that authenticated: it resolves each resource of a request to
    the agent it speaks for."""

    key: CollectorKey
    collectors: SiteCollectors
    site_id: str
    node_id: str
    resident: bool

    def principal_for(self, resource: Mapping[str, Any]) -> Principal | None:
        """The agent ``resource`` names, registered here if the site allows it; None
        when the site does not know it (its spans are refused)."""
        candidates = [
            value.strip()
            for value in (resource.get(AGENT_ID), resource.get(SERVICE_NAME))
            if isinstance(value, str) and value.strip()
        ]
        for value in candidates:
            agent = self._known(value)
            if agent is not None:
                return self._principal(agent.agent_id, agent.department_id)
        names = [value for value in candidates if _canonical_uuid(value) is None]
        if not self.key.auto_register or not names or len(names[0]) > MAX_NAME:
            return None
        agent_id = registered_agent_id(self.site_id, names[0])
        known = self.collectors.agents.get(agent_id)
        if known is not None and known.tenant_id == self.key.tenant_id:
            return self._principal(agent_id, known.department_id)
        return self._principal(agent_id, None, registers=names[0])

    def _known(self, value: str) -> SiteAgent | None:
        agent_id = _canonical_uuid(value)
        if agent_id is not None:
            agent = self.collectors.agents.get(agent_id)
            return agent if agent is not None and agent.tenant_id == self.key.tenant_id else None
        return self.collectors.names.get((self.key.tenant_id, value))

    def _principal(
        self, agent_id: str, department_id: str | None, *, registers: str = ""
    ) -> Principal:
        return Principal(
            tenant_id=self.key.tenant_id,
            agent_id=agent_id,
            department_id=department_id,
            device_id=None,
            site_id=self.site_id,
            edge_node_id=self.node_id,
            resident=self.resident,
            registers=registers,
        )


def label(resource: Mapping[str, Any]) -> str:
    """How a refusal names the agent of a resource."""
    for key in (AGENT_ID, SERVICE_NAME):
        value = resource.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_NAME]
    return "(no agent.id or service.name)"


def is_collector_key(authorization: str | None) -> bool:
    token = bearer_token(authorization)
    return token is not None and token.startswith(KEY_PREFIX)


def authenticate_collector(config: EdgeConfig | None, authorization: str | None) -> Collector:
    if config is None:
        raise AuthError(401, "this edge has no configuration yet, so it accepts no collector")
    # Looked up by digest, as agent keys are (edge/auth.py): timing tells at most about a
    # SHA-256 of a random secret.
    key = config.collectors.keys.get(sha256_hex(bearer_token(authorization) or ""))
    if key is None or key.revoked:
        raise AuthError(401, "unknown or revoked site collector key")
    return Collector(
        key=key,
        collectors=config.collectors,
        site_id=config.site_id,
        node_id=config.node_id,
        resident=config.bodies_at_edge(key.tenant_id),
    )
