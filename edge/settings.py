"""Edge settings from the environment; a bad value stops the process naming the variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
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


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    token_sha256 = env.get("EDGE_NODE_TOKEN_SHA256", "").strip().lower()
    if not token_sha256:
        raise SettingsError("EDGE_NODE_TOKEN_SHA256 must be set (hex SHA-256 of the node token)")
    if not _SHA256_HEX.fullmatch(token_sha256):
        raise SettingsError("EDGE_NODE_TOKEN_SHA256 must be 64 hex characters")
    return Settings(
        host=env.get("EDGE_HOST", "").strip() or "127.0.0.1",
        port=_int(env, "EDGE_PORT", 4318, 1, 65535),
        data_dir=Path(env.get("EDGE_DATA_DIR", "").strip() or "var/edge").resolve(),
        node_token_sha256=token_sha256,
        max_spool_bytes=_int(env, "EDGE_MAX_SPOOL_BYTES", 1 << 30, 1, 1 << 50),
        max_body_bytes=_int(env, "EDGE_MAX_BODY_BYTES", 4 << 20, 1, 1 << 30),
    )
