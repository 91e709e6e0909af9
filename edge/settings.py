"""Edge settings from the environment; a bad value stops the process naming the variable."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class SettingsError(Exception):
    """An EDGE_* variable is missing or holds a value the edge cannot use."""


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    data_dir: Path
    node_token_sha256: str
    max_spool_bytes: int
    max_body_bytes: int
    bundle_public_keys: Mapping[str, bytes] = field(default_factory=dict)
    """Ed25519 public keys (raw 32 bytes) by key id; when any is set, only signed
    bundles are accepted."""
    node_token: str | None = field(default=None, repr=False)
    """The node token itself, from which the key of the bundle's provider secrets is
    derived; without it the edge cannot use providers that need a key."""
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 30.0
    default_max_tokens: int = 4096
    """Output cap the gateway sets on requests that carry none, so that a reservation
    bounds what the provider may bill."""
    cache_max_bytes: int = 64 << 20
    """The response cache's size bound (all tenants together); 0 turns it off."""
    auth_max_failures_per_address: int = 50
    auth_max_failures_per_key: int = 10
    auth_lockout_seconds: float = 300.0


def _int(env: Mapping[str, str], name: str, default: int, minimum: int, maximum: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def _float(
    env: Mapping[str, str], name: str, default: float, minimum: float, maximum: float
) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}")
    return value


def parse_public_keys(raw: str, name: str = "EDGE_BUNDLE_PUBLIC_KEYS") -> dict[str, bytes]:
    """``id:base64-raw-32-byte-key`` entries, comma separated."""
    keys: dict[str, bytes] = {}
    for entry in filter(None, (part.strip() for part in raw.split(","))):
        key_id, _, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not key_id or not encoded:
            raise SettingsError(f"{name}: {entry!r} is not id:base64-key")
        try:
            key = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(f"{name}: the key of {key_id!r} is not base64") from None
        if len(key) != 32:
            raise SettingsError(f"{name}: the key of {key_id!r} must be 32 bytes")
        if key_id in keys:
            raise SettingsError(f"{name}: key id {key_id!r} is listed twice")
        keys[key_id] = key
    return keys


def _node_token(env: Mapping[str, str]) -> tuple[str | None, str]:
    token = env.get("EDGE_NODE_TOKEN", "").strip() or None
    token_sha256 = env.get("EDGE_NODE_TOKEN_SHA256", "").strip().lower()
    if token is not None:
        derived = hashlib.sha256(token.encode()).hexdigest()
        if token_sha256 and not hmac.compare_digest(derived, token_sha256):
            raise SettingsError("EDGE_NODE_TOKEN does not match EDGE_NODE_TOKEN_SHA256")
        token_sha256 = derived
    if not token_sha256:
        raise SettingsError(
            "EDGE_NODE_TOKEN_SHA256 (hex SHA-256 of the node token) or EDGE_NODE_TOKEN must be set"
        )
    if not _SHA256_HEX.fullmatch(token_sha256):
        raise SettingsError("EDGE_NODE_TOKEN_SHA256 must be 64 hex characters")
    return token, token_sha256


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    token, token_sha256 = _node_token(env)
    return Settings(
        host=env.get("EDGE_HOST", "").strip() or "127.0.0.1",
        port=_int(env, "EDGE_PORT", 4318, 1, 65535),
        data_dir=Path(env.get("EDGE_DATA_DIR", "").strip() or "var/edge").resolve(),
        node_token_sha256=token_sha256,
        max_spool_bytes=_int(env, "EDGE_MAX_SPOOL_BYTES", 1 << 30, 1, 1 << 50),
        max_body_bytes=_int(env, "EDGE_MAX_BODY_BYTES", 4 << 20, 1, 1 << 30),
        bundle_public_keys=parse_public_keys(env.get("EDGE_BUNDLE_PUBLIC_KEYS", "")),
        node_token=token,
        breaker_failures=_int(env, "EDGE_GATEWAY_BREAKER_FAILURES", 5, 1, 1000),
        breaker_cooldown_seconds=_float(
            env, "EDGE_GATEWAY_BREAKER_COOLDOWN_SECONDS", 30.0, 0.0, 86400.0
        ),
        default_max_tokens=_int(env, "EDGE_GATEWAY_DEFAULT_MAX_TOKENS", 4096, 1, 1 << 24),
        cache_max_bytes=_int(env, "EDGE_GATEWAY_CACHE_MAX_BYTES", 64 << 20, 0, 1 << 40),
        auth_max_failures_per_address=_int(
            env, "EDGE_AUTH_MAX_FAILURES_PER_ADDRESS", 50, 1, 1 << 30
        ),
        auth_max_failures_per_key=_int(env, "EDGE_AUTH_MAX_FAILURES_PER_KEY", 10, 1, 1 << 30),
        auth_lockout_seconds=_float(env, "EDGE_AUTH_LOCKOUT_SECONDS", 300.0, 1.0, 86400.0),
    )
