"""``Idempotency-Key`` on POST: a retried create returns the first result.

The first request with a key inserts an ``IdempotencyRecord`` (unique per token and key)
before it does its work, in the request's transaction (ATOMIC_REQUESTS). A concurrent
duplicate blocks on that unique row until the first commits, then replays its answer;
if the first fails, its record rolls back with everything else and the duplicate does
the work itself. Only successful (2xx) answers are kept: a failed request can be retried
with the same key.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from controlplane.api.models import ApiToken, IdempotencyRecord
from controlplane.api.problems import Conflict, UnprocessableEntity
from controlplane.core.crypto import key_ring

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255


def idempotency_key(request: Request) -> str | None:
    """The request's key, or None. A key is 1-255 visible ASCII characters."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not key or len(key) > MAX_KEY_LENGTH or not all(33 <= ord(c) <= 126 for c in key):
        raise exceptions.ValidationError(
            {HEADER: ["Use 1 to 255 visible ASCII characters, e.g. a UUID."]}
        )
    return key


def request_fingerprint(request: Request) -> str:
    """SHA-256 of method, path with query, and body: what 'the same request' means."""
    digest = hashlib.sha256()
    digest.update(str(request.method).encode() + b"\n")
    digest.update(request.get_full_path().encode() + b"\n")
    digest.update(request._request.body)
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    body = json.loads(key_ring().decrypt(record.encrypted_response))
    return Response(body, status=record.response_status, headers={REPLAYED_HEADER: "true"})


def _refuse_if_different(record: IdempotencyRecord, fingerprint: str) -> None:
    if record.request_sha256 != fingerprint:
        raise UnprocessableEntity(
            "This Idempotency-Key was used with a different request. Use a new key for a "
            "new request.",
            field=HEADER,
            code="idempotency-key-reused",
        )


def run_idempotently(
    request: Request, token: ApiToken, key: str, handler: Callable[[], Response]
) -> Response:
    """Run ``handler`` once per token and key; replay its answer to retries."""
    fingerprint = request_fingerprint(request)
    now = timezone.now()
    record: IdempotencyRecord | None = None
    for _attempt in range(3):
        record = IdempotencyRecord.objects.select_for_update().filter(token=token, key=key).first()
        if record is not None and record.expires_at <= now:
            record.delete()
            record = None
        if record is not None:
            _refuse_if_different(record, fingerprint)
            if record.response_status is not None:
                return _replay(record)
            break  # kept without an answer (it was not a success): do the work again
        IdempotencyRecord.objects.filter(token=token, expires_at__lte=now).delete()
        try:
            with transaction.atomic():
                record = IdempotencyRecord.objects.create(
                    token=token,
                    key=key,
                    method=str(request.method),
                    path=request.get_full_path()[:2000],
                    request_sha256=fingerprint,
                    expires_at=now + dt.timedelta(hours=settings.API_IDEMPOTENCY_HOURS),
                )
        except IntegrityError:
            # A concurrent request with this key committed first: read its answer.
            record = None
            continue
        break
    if record is None:
        raise Conflict("Another request with this Idempotency-Key is in progress; retry.")

    response = handler()
    if 200 <= response.status_code < 300:
        body = JSONRenderer().render(response.data).decode() if response.data is not None else ""
        record.response_status = response.status_code
        record.encrypted_response = key_ring().encrypt(body or "null")
        record.save(update_fields=["response_status", "encrypted_response"])
    return response
