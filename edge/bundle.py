"""Signed configuration bundles (docs/gateway.md): the envelope, its Ed25519 signature,
and the key that decrypts the provider secrets inside.

The control plane signs the payload bytes with a private key whose public half the edge
was installed with (EDGE_BUNDLE_PUBLIC_KEYS), so a stolen node token (which opens
PUT /v1/config) is not enough to point agents at another provider or lift a policy.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

FORMAT = "acp-bundle-v1"
_FERNET_SALT = b"acp-bundle"
_FERNET_INFO = b"provider-keys"


class BundleError(ValueError):
    """The envelope is malformed or its signature does not verify."""


def is_envelope(doc: object) -> bool:
    return isinstance(doc, dict) and "format" in doc and "payload" in doc


def verify_envelope(doc: Mapping[str, Any], public_keys: Mapping[str, bytes]) -> bytes:
    """The payload bytes of a signed bundle, once its signature verifies."""
    if doc.get("format") != FORMAT:
        raise BundleError(f"format must be {FORMAT!r}")
    key_id = doc.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise BundleError("key_id must be a non-empty string")
    public_key = public_keys.get(key_id)
    if public_key is None:
        raise BundleError(f"key_id {key_id!r} is not one of this edge's bundle keys")
    payload, signature = doc.get("payload"), doc.get("signature")
    if not isinstance(payload, str) or not isinstance(signature, str):
        raise BundleError("payload and signature must be base64 strings")
    try:
        payload_bytes = base64.b64decode(payload, validate=True)
        signature_bytes = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        raise BundleError("payload and signature must be base64 strings") from None
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature_bytes, payload_bytes)
    except InvalidSignature:
        raise BundleError("the signature does not verify") from None
    return payload_bytes


def provider_key(node_token: str) -> Fernet:
    """The Fernet key of the provider secrets: HKDF-SHA256 of the node token."""
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=_FERNET_SALT, info=_FERNET_INFO
    ).derive(node_token.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def decrypt_secret(fernet: Fernet | None, token: str) -> str | None:
    """The plain provider secret, or None when this edge cannot decrypt it."""
    if fernet is None:
        return None
    try:
        return fernet.decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeDecodeError):
        return None
