"""The configuration document the control plane pushes (PUT /v1/config).

It tells the edge who it is (node and site) and which devices and agent keys may send
telemetry; secrets appear only as SHA-256 hex digests. With the gateway it also carries
agents' profiles, policies, providers, routes, prices and budgets (edge/gateway/
catalog.py), as a bundle signed by the control plane (edge/bundle.py) once the edge has
bundle keys. The last applied document is kept on disk so the edge keeps serving while
the control plane is unreachable and across restarts.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

from edge.bundle import BundleError, decrypt_secret, is_envelope, verify_envelope
from edge.collector import SiteCollectors, parse_collectors
from edge.errors import ConfigError
from edge.gateway.catalog import Decrypt, GatewayConfig, parse_gateway
from edge.residency import Residency, parse_residency
from edge.watch import AgentWatch, parse_watch

__all__ = ["ConfigError", "ConfigStore", "EdgeConfig", "StaleConfigError", "parse_config"]

logger = logging.getLogger("edge")

_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")


class StaleConfigError(Exception):
    """The document is older than the configuration in force."""

    def __init__(self, current: int, offered: int) -> None:
        super().__init__(f"version {offered} is lower than the current version {current}")
        self.current = current
        self.offered = offered


@dataclass(frozen=True)
class Device:
    device_id: str
    tenant_id: str
    key_sha256: str
    revoked: bool


@dataclass(frozen=True)
class AgentKey:
    key_id: str
    key_sha256: str
    agent_id: str
    tenant_id: str
    department_id: str | None
    device_id: str
    revoked: bool


@dataclass(frozen=True)
class EdgeConfig:
    version: int
    node_id: str
    site_id: str
    devices: Mapping[str, Device]
    agent_keys: Mapping[str, AgentKey]
    """Agent keys by their SHA-256 hex digest."""
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    signed: bool = False
    """Applied from a verified bundle (not a plain document)."""
    quarantine: Quarantine = field(default_factory=lambda: Quarantine())
    watch: Mapping[str, AgentWatch] = field(default_factory=dict)
    """Per agent: learned allow-sets and ceilings (edge/watch.py)."""
    residency: Mapping[str, Residency] = field(default_factory=dict)
    """By tenant id: whether its bodies stay at this edge, and for how long."""
    collectors: SiteCollectors = field(default_factory=SiteCollectors)

    def bodies_at_edge(self, tenant_id: str) -> bool:
        residency = self.residency.get(tenant_id)
        return residency is not None and residency.bodies_at_edge

    def quarantined(self, agent_id: str, device_id: str | None, tenant_id: str) -> bool:
        q = self.quarantine
        return agent_id in q.agents or device_id in q.devices or tenant_id in q.tenants


@dataclass(frozen=True)
class Quarantine:
    """What the control plane's security team quarantined: the edge refuses these
    agents' model calls (controlplane/security/quarantine.py)."""

    agents: frozenset[str] = frozenset()
    devices: frozenset[str] = frozenset()
    tenants: frozenset[str] = frozenset()


def _quarantine(doc: Mapping[str, Any]) -> Quarantine:
    """The optional ``quarantine`` section; absent (an older control plane) is empty."""
    section = doc.get("quarantine") or {}
    if not isinstance(section, dict):
        raise ConfigError("quarantine must be an object")
    ids: dict[str, frozenset[str]] = {}
    for name in ("agents", "devices", "tenants"):
        items = section.get(name, [])
        if not isinstance(items, list):
            raise ConfigError(f"quarantine.{name} must be an array")
        try:
            ids[name] = frozenset(str(uuid.UUID(item)) for item in items)
        except (TypeError, ValueError, AttributeError):
            raise ConfigError(f"quarantine.{name} must hold UUIDs") from None
    return Quarantine(**ids)


def _field(doc: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in doc:
        raise ConfigError(f"{where}{key} is required")
    return doc[key]


def _uuid(doc: Mapping[str, Any], key: str, where: str, *, nullable: bool = False) -> Any:
    value = _field(doc, key, where)
    if value is None and nullable:
        return None
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ConfigError(f"{where}{key} must be a UUID") from None


def _sha256(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = _field(doc, key, where)
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value):
        raise ConfigError(f"{where}{key} must be 64 hex characters")
    return value.lower()


def _bool(doc: Mapping[str, Any], key: str, where: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}{key} must be true or false")
    return value


def _objects(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    items = _field(doc, key, "")
    if not isinstance(items, list):
        raise ConfigError(f"{key} must be an array")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise ConfigError(f"{key}[{index}] must be an object")
    return items


def parse_config(
    doc: object, decrypt: Decrypt | None = None, *, signed: bool = False
) -> EdgeConfig:
    """Validate a decoded configuration document; raise ConfigError naming the field."""
    if not isinstance(doc, dict):
        raise ConfigError("the document must be a JSON object")
    version = _field(doc, "version", "")
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ConfigError("version must be a non-negative integer")

    devices: dict[str, Device] = {}
    for index, item in enumerate(_objects(doc, "devices")):
        where = f"devices[{index}]."
        device = Device(
            device_id=_uuid(item, "device_id", where),
            tenant_id=_uuid(item, "tenant_id", where),
            key_sha256=_sha256(item, "key_sha256", where),
            revoked=_bool(item, "revoked", where),
        )
        if device.device_id in devices:
            raise ConfigError(f"{where}device_id {device.device_id} is listed twice")
        devices[device.device_id] = device

    agent_keys: dict[str, AgentKey] = {}
    for index, item in enumerate(_objects(doc, "agent_keys")):
        where = f"agent_keys[{index}]."
        key_id = _field(item, "key_id", where)
        if not isinstance(key_id, str) or not key_id:
            raise ConfigError(f"{where}key_id must be a non-empty string")
        key = AgentKey(
            key_id=key_id,
            key_sha256=_sha256(item, "key_sha256", where),
            agent_id=_uuid(item, "agent_id", where),
            tenant_id=_uuid(item, "tenant_id", where),
            department_id=_uuid(item, "department_id", where, nullable=True),
            device_id=_uuid(item, "device_id", where),
            revoked=_bool(item, "revoked", where),
        )
        bound = devices.get(key.device_id)
        if bound is None:
            raise ConfigError(f"{where}device_id {key.device_id} is not in devices")
        if bound.tenant_id != key.tenant_id:
            raise ConfigError(f"{where}tenant_id differs from the tenant of its device")
        if key.key_sha256 in agent_keys:
            raise ConfigError(f"{where}key_sha256 is listed twice")
        agent_keys[key.key_sha256] = key

    gateway = parse_gateway(doc, decrypt)
    for index, key in enumerate(agent_keys.values()):
        agent = gateway.agents.get(key.agent_id)
        if agent is not None and agent.tenant_id != key.tenant_id:
            raise ConfigError(f"agent_keys[{index}].tenant_id differs from its agent's tenant")
    return EdgeConfig(
        version=version,
        node_id=_uuid(doc, "node_id", ""),
        site_id=_uuid(doc, "site_id", ""),
        devices=devices,
        agent_keys=agent_keys,
        gateway=gateway,
        signed=signed,
        quarantine=_quarantine(doc),
        watch=parse_watch(doc),
        residency=parse_residency(doc),
        collectors=parse_collectors(doc),
    )


def _write_atomically(path: Path, data: bytes) -> None:
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    # The rename is durable only once the directory entry is on disk.
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


class ConfigStore:
    """The configuration in force, persisted at ``path``; ``current`` is None until the
    first document has ever been applied, and then every agent request is refused.

    With ``public_keys`` only signed bundles are accepted (and loaded from disk); the
    file then holds the signed envelope, verified again at every start. ``secrets``
    decrypts the providers' keys in the bundle; they are held in memory only.
    """

    def __init__(
        self,
        path: Path,
        *,
        public_keys: Mapping[str, bytes] | None = None,
        secrets: Fernet | None = None,
    ) -> None:
        self._path = path
        self._public_keys = dict(public_keys or {})
        self._secrets = secrets
        self._lock = threading.Lock()
        self.current: EdgeConfig | None = None

    def _decrypt(self, token: str) -> str | None:
        return decrypt_secret(self._secrets, token)

    def parse(self, body: bytes) -> EdgeConfig:
        """A document as received (plain or signed bundle), validated."""
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise ConfigError("the body is not valid JSON") from None
        signed = is_envelope(doc)
        if signed:
            if not self._public_keys:
                raise ConfigError("this edge has no bundle keys (EDGE_BUNDLE_PUBLIC_KEYS)")
            try:
                payload = verify_envelope(doc, self._public_keys)
                doc = orjson.loads(payload)
            except BundleError as error:
                raise ConfigError(f"bundle: {error}") from None
            except orjson.JSONDecodeError:
                raise ConfigError("bundle: the payload is not valid JSON") from None
        elif self._public_keys:
            raise ConfigError("this edge accepts only signed bundles (format acp-bundle-v1)")
        config = parse_config(doc, self._decrypt, signed=signed)
        for provider in config.gateway.providers.values():
            if provider.key_unavailable:
                logger.error(
                    "provider %s: its key cannot be decrypted (EDGE_NODE_TOKEN missing or "
                    "another node's); requests to it will fail",
                    provider.provider_id,
                )
        return config

    def load(self) -> None:
        """Read the persisted document; a corrupt file stops the edge rather than
        silently dropping every agent's credentials. An unsigned file on an edge that
        now requires signed bundles is not trusted: the edge starts unconfigured (every
        agent refused) until the control plane pushes a bundle."""
        try:
            data = self._path.read_bytes()
        except FileNotFoundError:
            return
        try:
            if self._public_keys and not is_envelope(orjson.loads(data)):
                logger.warning(
                    "%s is not a signed bundle and EDGE_BUNDLE_PUBLIC_KEYS is set: "
                    "ignored until the control plane pushes a bundle",
                    self._path,
                )
                return
            self.current = self.parse(data)
        except (orjson.JSONDecodeError, ConfigError) as error:
            raise ConfigError(f"{self._path}: {error}") from error

    def apply(self, body: bytes) -> EdgeConfig:
        """Validate, persist and put a document in force; blocking (fsync)."""
        config = self.parse(body)
        with self._lock:
            if self.current is not None and config.version < self.current.version:
                raise StaleConfigError(self.current.version, config.version)
            _write_atomically(self._path, body)
            self.current = config
        return config
