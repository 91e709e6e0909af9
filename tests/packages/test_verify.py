"""``manage.py verify_evidence_package``: a whole package passes with the published key;
one byte changed anywhere in it, a file swapped, added or removed, the manifest or the
signature edited, or another key: each is caught and named."""

from __future__ import annotations

import base64
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from compliance.packages.archive import MANIFEST, SIGNATURE
from tests.packages.conftest import Built, with_traffic
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db


def verify(data: bytes, tmp_path: Path, *options: str) -> tuple[bool, str, str]:
    """(passed, stdout, stderr) of the command on ``data``."""
    path = tmp_path / "package.zip"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_evidence_package", str(path), *options, stdout=out, stderr=err)
    except CommandError as error:
        return False, out.getvalue(), err.getvalue() + str(error)
    return True, out.getvalue(), err.getvalue()


@pytest.fixture
def built(world: World, fleet_a: Fleet, build: Callable[..., Built]) -> Built:
    with_traffic(fleet_a)
    return build(world.a)


@pytest.fixture
def published_key(tmp_path: Path) -> str:
    """The public keys as the MSP publishes them, saved by the auditor."""
    response = Client().get("/compliance/signing-keys")
    assert response.status_code == 200
    path = tmp_path / "keys.json"
    path.write_bytes(response.content)
    return str(path)


def rezipped(members: dict[str, bytes]) -> bytes:
    """The members in a fresh, well-formed ZIP (as someone editing the package makes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_whole_package_verifies_with_the_published_key(
    built: Built, tmp_path: Path, published_key: str
) -> None:
    passed, out, err = verify(built.data, tmp_path, "--public-key", published_key)

    assert passed, err
    files = len(built.members()) - 2
    assert f"signature valid (key {built.package.key_id}), {files} files match" in out
    assert "acme" in out


def test_without_a_key_it_checks_integrity_and_says_authenticity_is_unproven(
    built: Built, tmp_path: Path
) -> None:
    passed, out, _ = verify(built.data, tmp_path)

    assert passed
    assert "proves the package is whole, not who signed it" in out


def _member_offsets(data: bytes) -> dict[str, tuple[int, int]]:
    """Each member's (start, length) of its stored bytes inside the ZIP."""
    offsets = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            header = info.header_offset
            name_length = int.from_bytes(data[header + 26 : header + 28], "little")
            extra_length = int.from_bytes(data[header + 28 : header + 30], "little")
            offsets[info.filename] = (header + 30 + name_length + extra_length, info.compress_size)
    return offsets


def test_one_byte_changed_in_any_file_is_detected_and_named(
    built: Built, tmp_path: Path, published_key: str
) -> None:
    offsets = _member_offsets(built.data)
    assert {MANIFEST, SIGNATURE, "criteria/security.pdf", "dataflow/period.svg"} <= set(offsets)
    for name, (start, length) in offsets.items():
        tampered = bytearray(built.data)
        tampered[start + length // 2] ^= 0x20
        passed, _, err = verify(bytes(tampered), tmp_path, "--public-key", published_key)
        assert not passed, name
        assert f"ALTERED {name}: altered" in err, (name, err)
        assert err.count("ALTERED") == 1, (name, err)


def test_a_file_edited_and_zipped_again_is_named_by_its_hash(
    built: Built, tmp_path: Path, published_key: str
) -> None:
    members = built.members()
    members["audit/events.csv"] = members["audit/events.csv"].replace(b"acme", b"acne", 1)

    passed, _, err = verify(rezipped(members), tmp_path, "--public-key", published_key)

    assert not passed
    assert "ALTERED audit/events.csv: altered: SHA-256" in err
    assert "the manifest says" in err
    assert err.count("ALTERED") == 1


def test_an_edited_manifest_is_named(built: Built, tmp_path: Path, published_key: str) -> None:
    members = built.members()
    manifest = json.loads(members[MANIFEST])
    manifest["period"]["end"] = "2099-12-31"  # stretching the period
    members[MANIFEST] = json.dumps(manifest, indent=2, sort_keys=True).encode()

    passed, _, err = verify(rezipped(members), tmp_path, "--public-key", published_key)

    assert not passed
    assert "ALTERED manifest.json: altered after signing" in err


def test_a_forged_signature_or_another_key_is_named(
    built: Built, tmp_path: Path, published_key: str
) -> None:
    members = built.members()
    envelope = json.loads(members[SIGNATURE])
    signature = bytearray(base64.b64decode(envelope["signature"]))
    signature[0] ^= 0x01
    envelope["signature"] = base64.b64encode(bytes(signature)).decode()
    members[SIGNATURE] = json.dumps(envelope).encode()
    passed, _, err = verify(rezipped(members), tmp_path, "--public-key", published_key)
    assert not passed
    assert "ALTERED manifest.sig: altered: the signature does not verify" in err

    other = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # some other 32-byte key
    passed, _, err = verify(built.data, tmp_path, "--public-key", f"{built.package.key_id}:{other}")
    assert not passed
    assert "ALTERED manifest.sig" in err


def test_added_and_removed_files_are_named(
    built: Built, tmp_path: Path, published_key: str
) -> None:
    members = built.members()
    del members["criteria/privacy.pdf"]
    members["evidence/security/EXTRA.json"] = b"[]"

    passed, _, err = verify(rezipped(members), tmp_path, "--public-key", published_key)

    assert not passed
    assert "ALTERED criteria/privacy.pdf: missing" in err
    assert "ALTERED evidence/security/EXTRA.json: added" in err


def test_bad_input_is_named(tmp_path: Path) -> None:
    passed, _, err = verify(b"not a zip at all", tmp_path)
    assert not passed
    assert "(the ZIP archive): not a ZIP archive" in err

    with pytest.raises(CommandError, match=r"file: .* does not exist"):
        call_command("verify_evidence_package", str(tmp_path / "missing.zip"))
    with pytest.raises(CommandError, match=r"--public-key: .*not base64"):
        call_command(
            "verify_evidence_package", str(tmp_path / "package.zip"), "--public-key", "k1:%%%"
        )
