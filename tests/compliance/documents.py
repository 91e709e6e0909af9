"""An evidence record's hash, recomputed from its downloaded JSON document alone, as an
auditor would (docs/compliance.md, "Evidence records")."""

from __future__ import annotations

import hashlib
import json
from typing import Any

PERSONAL = ("summary", "failing_entities", "metrics")


def sha256_of(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def document_hash(document: dict[str, Any]) -> str:
    """The hash of a format-2 document: the personal parts through ``personal_sha256``
    (checked against them here), every other field but ``id``, ``hash``, ``population``
    and ``erasure`` itself."""
    parts = {"summary": document["summary"], "metrics": document["metrics"]}
    for field in ("failing_entities", "population"):
        parts |= {f"{field}.{i}": row for i, row in enumerate(document[field])}
    assert (
        sha256_of({name: sha256_of(v) for name, v in parts.items()}) == document["personal_sha256"]
    )
    skipped = ("id", "hash", "population", "erasure", *PERSONAL)
    return sha256_of({k: v for k, v in document.items() if k not in skipped})
