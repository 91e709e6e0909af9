"""Who is calling: agents (agent key + device proof, checked against the config) and
the control plane (node token). Only SHA-256 digests of secrets are ever held."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import EdgeConfig


class AuthError(Exception):
    """The request is refused; ``status`` is 401 (not authenticated), 403 (a valid key
    used from a device other than the one it is bound to) or 429 (too many failed
    attempts from this address or with this key, ``edge.auth_throttle``)."""

    def __init__(self, status: int, detail: str, *, retry_after: int | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """The agent a request comes from, as stamped on every record it sends."""

    tenant_id: str
    agent_id: str
    department_id: str | None
    device_id: str | None
    """None for spans a site collector forwards (edge/collector.py)."""
    site_id: str | None
    """None only for history imported from files (controlplane/telemetry/otlp_import.py)."""
    edge_node_id: str
    resident: bool = False
    """The tenant's bodies stay at this edge (edge/residency.py)."""
    registers: str = ""
    """The name of an agent a site collector registers with this span (or "")."""


def sha256_hex(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def is_node_token(authorization: str | None, expected_sha256: str) -> bool:
    token = bearer_token(authorization)
    return token is not None and hmac.compare_digest(sha256_hex(token), expected_sha256)


def authenticate_agent(
    config: EdgeConfig | None,
    authorization: str | None,
    device_id: str | None,
    device_key: str | None,
) -> Principal:
    if config is None:
        raise AuthError(401, "this edge has no configuration yet, so it accepts no agent")
    token = bearer_token(authorization)
    if token is None:
        raise AuthError(401, "an agent key is required (Authorization: Bearer acpk_…)")
    # Looking keys up by digest leaks at most timing about a SHA-256 of a random secret,
    # which does not help to forge one; the device key is compared in constant time.
    key = config.agent_keys.get(sha256_hex(token))
    if key is None or key.revoked:
        raise AuthError(401, "unknown or revoked agent key")
    bound = config.devices[key.device_id]
    if bound.revoked:
        raise AuthError(401, "the agent key's device is revoked")
    if not device_id or not device_key:
        raise AuthError(401, "X-ACP-Device-Id and X-ACP-Device-Key are required")
    device = config.devices.get(device_id.strip().lower())
    if (
        device is None
        or device.revoked
        or not hmac.compare_digest(sha256_hex(device_key.strip()), device.key_sha256)
    ):
        raise AuthError(401, "unknown or revoked device, or wrong device key")
    if device.device_id != key.device_id:
        raise AuthError(403, "this agent key is bound to another device")
    return Principal(
        tenant_id=key.tenant_id,
        agent_id=key.agent_id,
        department_id=key.department_id,
        device_id=device.device_id,
        site_id=config.site_id,
        edge_node_id=config.node_id,
        resident=config.bodies_at_edge(key.tenant_id),
    )
