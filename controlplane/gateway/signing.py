"""The Ed25519 keys that sign configuration bundles (BUNDLE_SIGNING_KEYS).

Entries are ``id:base64-raw-32-byte-seed``, newest first: the first signs, and every
entry's public half is given to the edges (``EDGE_BUNDLE_PUBLIC_KEYS``), so a new key can
be rolled out to the edges before it starts signing, and an old one kept until every
edge has a bundle signed with the new one.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_NAME = "BUNDLE_SIGNING_KEYS"


class SigningRing:
    """``name``: the setting the entries come from, named in every error (evidence
    packages use the same form: EVIDENCE_SIGNING_KEYS)."""

    def __init__(self, entries: list[str], *, name: str = _NAME) -> None:
        if not entries:
            raise ImproperlyConfigured(f"{name} must hold at least one key")
        self._keys: dict[str, Ed25519PrivateKey] = {}
        for entry in entries:
            key_id, sep, encoded = entry.partition(":")
            key_id = key_id.strip()
            if not sep or not key_id or "," in key_id:
                raise ImproperlyConfigured(f"{name} entries must look like 'id:base64-seed'")
            if key_id in self._keys:
                raise ImproperlyConfigured(f"{name}: key id {key_id!r} is listed twice")
            try:
                seed = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise ImproperlyConfigured(f"{name}: the key {key_id!r} is not base64") from None
            if len(seed) != 32:
                raise ImproperlyConfigured(f"{name}: the key {key_id!r} must be 32 bytes")
            self._keys[key_id] = Ed25519PrivateKey.from_private_bytes(seed)
        self.current_key_id = next(iter(self._keys))

    def sign(self, data: bytes) -> tuple[str, bytes]:
        """The signing key's id and its signature of ``data``."""
        return self.current_key_id, self._keys[self.current_key_id].sign(data)

    def public_keys(self) -> dict[str, bytes]:
        return {
            key_id: key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            for key_id, key in self._keys.items()
        }


@lru_cache(maxsize=1)
def signing_ring() -> SigningRing:
    return SigningRing(list(settings.BUNDLE_SIGNING_KEYS))


def bundle_public_keys() -> str:
    """The value of the edges' ``EDGE_BUNDLE_PUBLIC_KEYS``: ``id:base64-raw-key,…``."""
    return ",".join(
        f"{key_id}:{base64.b64encode(raw).decode()}"
        for key_id, raw in signing_ring().public_keys().items()
    )
