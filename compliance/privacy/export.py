"""A data-subject request's export: JSON files in one ZIP, kept encrypted with the field
key ring (it is the person's data) until the request is erased."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from compliance.privacy.models import DataSubjectRequest
from controlplane.core.crypto import key_ring


def _json(content: Any) -> bytes:
    return json.dumps(content, cls=DjangoJSONEncoder, indent=2, ensure_ascii=False).encode()


def export_bytes(dsr: DataSubjectRequest) -> bytes:
    """The ZIP as it stands (empty bytes when there is none)."""
    if not dsr.export_enc:
        return b""
    return base64.b64decode(key_ring().decrypt(dsr.export_enc))


def export_put(dsr: DataSubjectRequest, name: str, content: Any) -> None:
    """Put ``name`` (JSON of ``content``) into the ZIP, replacing a file of that name
    (a step run again writes the same file once). The caller saves ``dsr``."""
    files: dict[str, bytes] = {}
    existing = export_bytes(dsr)
    if existing:
        with zipfile.ZipFile(io.BytesIO(existing)) as archive:
            files = {info.filename: archive.read(info) for info in archive.infolist()}
    files[name] = _json(content)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename in sorted(files):
            archive.writestr(filename, files[filename])
    data = buffer.getvalue()
    dsr.export_enc = key_ring().encrypt(base64.b64encode(data).decode())
    dsr.export_sha256 = hashlib.sha256(data).hexdigest()
    dsr.export_bytes = len(data)


def export_clear(dsr: DataSubjectRequest) -> None:
    dsr.export_enc = ""
    dsr.export_bytes = 0
