"""The evidence signing keys' public halves, published for anyone verifying a package."""

from __future__ import annotations

import base64
import hashlib

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_safe

from compliance.packages.archive import ALGORITHM, public_key_pem
from compliance.packages.services import evidence_signing_ring


@require_safe
def signing_keys(request: HttpRequest) -> JsonResponse:
    """``{"keys": [{"key_id", "algorithm", "public_key", "pem", "sha256"}]}``, newest
    first: what ``verify_evidence_package --public-key`` takes (saved to a file)."""
    ring = evidence_signing_ring()
    keys = [
        {
            "key_id": key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(raw).decode(),
            "pem": public_key_pem(raw),
            "sha256": hashlib.sha256(raw).hexdigest(),
        }
        for key_id, raw in ring.public_keys().items()
    ]
    response = JsonResponse({"keys": keys, "current": ring.current_key_id})
    response["Cache-Control"] = "public, max-age=300"
    return response
