"""Checking a package offline, with no database: the signature, the manifest and every
file's hash. Each problem names what was altered: a file (changed, damaged, missing or
added), the manifest, or the signature.

Authenticity needs the signer's public key from elsewhere (``--public-key``: the URL the
MSP publishes, or a copy given to the auditor). Without one, the key inside the package
is used, which proves the package is whole but not who made it; the report says so.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from compliance.packages.archive import ALGORITHM, FORMAT, MANIFEST, SIGNATURE, sha256

ARCHIVE = "(the ZIP archive)"


class PublicKeyError(ValueError):
    """A public key given to the verifier is not one."""


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    files_checked: int = 0
    key_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, path: str, message: str) -> None:
        self.problems.append(Problem(path, message))


# --- public keys ----------------------------------------------------------------------


def _raw_key(text: str) -> bytes:
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise PublicKeyError(f"{text[:20]!r}… is not base64") from None
    if len(raw) != 32:
        raise PublicKeyError("an Ed25519 public key is 32 bytes")
    return raw


def parse_public_keys(value: str) -> dict[str, bytes]:
    """Public keys by id from what a person passes: a file (PEM, the published JSON
    document, or ``id:base64`` text) or the text itself: ``id:base64[,id:base64…]`` or one
    bare base64 key (id ``*``: whatever the package names)."""
    try:
        text = Path(value).read_text() if Path(value).is_file() else value
    except (OSError, ValueError):  # not a file name (too long, odd characters): the text
        text = value
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = load_pem_public_key(text.encode())
        except ValueError:
            raise PublicKeyError("the PEM is not a public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise PublicKeyError("the PEM key is not an Ed25519 key")
        return {"*": key.public_bytes_raw()}
    if text.startswith("{"):
        try:
            document = json.loads(text)
            return {str(k["key_id"]): _raw_key(str(k["public_key"])) for k in document["keys"]}
        except (ValueError, KeyError, TypeError):
            raise PublicKeyError("the JSON is not the published keys document") from None
    keys: dict[str, bytes] = {}
    for entry in (part.strip() for part in text.split(",")):
        key_id, sep, encoded = entry.rpartition(":")
        keys[key_id.strip() if sep else "*"] = _raw_key(encoded)
    if not keys:
        raise PublicKeyError("no key given")
    return keys


# --- the checks -----------------------------------------------------------------------


def _read(archive: zipfile.ZipFile, name: str) -> bytes | None:
    """A member's bytes, or None when they fail the ZIP's own CRC-32 or do not inflate
    (a byte changed inside the archive)."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError):
        return None


def _check_signature(
    report: Report, manifest: bytes, signature: bytes, trusted: dict[str, bytes] | None
) -> None:
    try:
        envelope = json.loads(signature)
        key_id = str(envelope["key_id"])
        signed_digest = str(envelope["manifest_sha256"])
        raw_signature = base64.b64decode(str(envelope["signature"]), validate=True)
        algorithm = str(envelope["algorithm"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        report.fail(SIGNATURE, "altered: it is not a signature document")
        return
    report.key_id = key_id
    if algorithm != ALGORITHM:
        report.fail(SIGNATURE, f"altered: unknown algorithm {algorithm!r}")
        return
    if signed_digest != sha256(manifest):
        report.fail(MANIFEST, "altered after signing: its SHA-256 is not the one signed")
        return
    embedded = report.manifest.get("signing_key", {})
    if trusted is None:
        try:
            key = _raw_key(str(embedded.get("public_key", "")))
        except PublicKeyError:
            report.fail(MANIFEST, "names no usable signing key (pass --public-key)")
            return
        report.notes.append(
            f"Checked with the public key inside the package (key {key_id}, SHA-256 "
            f"{hashlib.sha256(key).hexdigest()[:16]}…): this proves the package is whole, "
            "not who signed it. Pass --public-key with the key the MSP publishes."
        )
    else:
        found = trusted.get(key_id, trusted.get("*"))
        if found is None:
            report.fail(SIGNATURE, f"signed with key {key_id!r}, not one of the given keys")
            return
        key = found
    try:
        Ed25519PublicKey.from_public_bytes(key).verify(raw_signature, manifest)
    except InvalidSignature:
        report.fail(SIGNATURE, f"altered: the signature does not verify with key {key_id!r}")


def _check_files(report: Report, archive: zipfile.ZipFile) -> None:
    listed: dict[str, dict[str, Any]] = {}
    for entry in report.manifest.get("files", []):
        listed[str(entry.get("path"))] = entry
    present = set(archive.namelist()) - {MANIFEST, SIGNATURE}
    for path in sorted(present - set(listed)):
        report.fail(path, "added: it is not listed in the manifest")
    for path, entry in sorted(listed.items()):
        if path not in present:
            report.fail(path, "missing: the manifest lists it")
            continue
        data = _read(archive, path)
        if data is None:
            report.fail(path, "altered: its bytes fail the ZIP's checksum")
            continue
        report.files_checked += 1
        digest = sha256(data)
        if digest != entry.get("sha256") or len(data) != entry.get("bytes"):
            report.fail(
                path,
                f"altered: SHA-256 {digest[:16]}… ({len(data):,} bytes), the manifest "
                f"says {str(entry.get('sha256'))[:16]}… ({entry.get('bytes')} bytes)",
            )


def verify_package(source: bytes | IO[bytes], *, public_keys: dict[str, bytes] | None) -> Report:
    """Check the package in ``source``; ``public_keys``: the trusted keys by id (None:
    the key inside the package)."""
    report = Report()
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        report.fail(ARCHIVE, "not a ZIP archive, or its directory is damaged")
        return report
    with archive:
        names = Counter(archive.namelist())
        for name, count in sorted(names.items()):
            if count > 1:
                report.fail(name, f"added: the archive holds it {count} times")
        manifest = _read(archive, MANIFEST) if MANIFEST in names else None
        signature = _read(archive, SIGNATURE) if SIGNATURE in names else None
        if MANIFEST not in names:
            report.fail(MANIFEST, "missing")
        elif manifest is None:
            report.fail(MANIFEST, "altered: its bytes fail the ZIP's checksum")
        else:
            try:
                report.manifest = json.loads(manifest)
            except ValueError:
                report.fail(MANIFEST, "altered: it is not JSON")
            if report.manifest and report.manifest.get("format") != FORMAT:
                report.fail(MANIFEST, f"not a {FORMAT} manifest")
        if SIGNATURE not in names:
            report.fail(SIGNATURE, "missing")
        elif signature is None:
            report.fail(SIGNATURE, "altered: its bytes fail the ZIP's checksum")
        elif manifest is not None and report.manifest:
            _check_signature(report, manifest, signature, public_keys)
        if report.manifest:
            _check_files(report, archive)
    return report
