"""The package format, with no Django in it: writing a signed ZIP from its files.

A package is a ZIP whose first two members are ``manifest.json`` (the tenant, the
period, the audit-chain head, the signing key and every other member's path, size and
SHA-256) and ``manifest.sig`` (an Ed25519 signature of the manifest's exact bytes, with
the key id and the manifest's SHA-256). ``compliance.packages.verify`` checks one.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

FORMAT = "acp-evidence-package/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
ALGORITHM = "Ed25519"
RESERVED = frozenset({MANIFEST, SIGNATURE})

Signer = Callable[[bytes], tuple[str, bytes]]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def public_key_pem(raw: bytes) -> str:
    key = Ed25519PublicKey.from_public_bytes(raw)
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def manifest_bytes(header: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """The manifest: ``header`` plus every file's path, size and SHA-256, sorted by path,
    as indented JSON with sorted keys (the signed bytes)."""
    listing = [
        {"path": path, "bytes": len(data), "sha256": sha256(data)}
        for path, data in sorted(files.items())
    ]
    document = {"format": FORMAT, **header, "files": listing}
    return (json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def signature_bytes(manifest: bytes, *, sign: Signer) -> bytes:
    key_id, signature = sign(manifest)
    document = {
        "algorithm": ALGORITHM,
        "key_id": key_id,
        "manifest_sha256": sha256(manifest),
        "signature": base64.b64encode(signature).decode(),
    }
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def write_package(
    files: Mapping[str, bytes],
    *,
    header: Mapping[str, Any],
    sign: Signer,
    moment: dt.datetime,
) -> tuple[bytes, str]:
    """The ZIP of ``files`` with its manifest and signature, and the manifest's SHA-256.
    Every member is dated ``moment`` (UTC), so the same content gives the same bytes."""
    clash = RESERVED & set(files)
    if clash:
        raise ValueError(f"{sorted(clash)} are the package's own members")
    manifest = manifest_bytes(header, files)
    members = {MANIFEST: manifest, SIGNATURE: signature_bytes(manifest, sign=sign)}
    members.update(sorted(files.items()))
    stamp = moment.astimezone(dt.UTC).timetuple()[:6]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path, data in members.items():
            info = zipfile.ZipInfo(path, date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return out.getvalue(), sha256(manifest)
