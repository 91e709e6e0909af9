"""Secret-key validation and the development-only secrets kept under var/."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from controlplane.env import ImproperlyConfiguredEnv

MIN_SECRET_LENGTH = 50
MIN_UNIQUE_CHARACTERS = 5


def validate_secret_key(value: str | None, *, name: str) -> str:
    """Refuse a missing or weak key with a message naming the variable."""
    if not value:
        raise ImproperlyConfiguredEnv(f"{name} must be set in production")
    if (
        len(value) < MIN_SECRET_LENGTH
        or len(set(value)) < MIN_UNIQUE_CHARACTERS
        or value.startswith("django-insecure-")
    ):
        raise ImproperlyConfiguredEnv(
            f"{name} is too weak: use at least {MIN_SECRET_LENGTH} random characters "
            "(for example: python -c 'import secrets; print(secrets.token_urlsafe(64))')"
        )
    return value


def load_or_create_dev_secret(
    path: Path, *, fernet: bool = False, signing_key: bool = False
) -> str:
    """Read a secret kept in var/ for development and the demo; make it on first use.

    ``fernet``: an ``id:fernet-key`` key-ring entry. ``signing_key``: an
    ``id:base64-raw-32-byte-seed`` Ed25519 entry (BUNDLE_SIGNING_KEYS).
    """
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    if fernet:
        value = "k1:" + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    elif signing_key:
        value = "dev1:" + base64.b64encode(secrets.token_bytes(32)).decode()
    else:
        value = secrets.token_urlsafe(64)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value
