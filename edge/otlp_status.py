"""Error answers of the OTLP/HTTP receiver in the shape its clients read: the OTLP
specification says the body of every 4xx and 5xx is a ``google.rpc.Status`` in the
request's encoding (protobuf or JSON), which the exporters log as the reason."""

from __future__ import annotations

import orjson
from google.rpc.status_pb2 import Status
from starlette.responses import Response

from edge.otlp import JSON, PROTOBUF

# google.rpc.Code for each HTTP status the receiver answers with.
_CODES = {
    400: 3,  # INVALID_ARGUMENT
    401: 16,  # UNAUTHENTICATED
    403: 7,  # PERMISSION_DENIED
    413: 8,  # RESOURCE_EXHAUSTED, as gRPC answers a message over its size limit
    415: 3,  # INVALID_ARGUMENT
    429: 8,  # RESOURCE_EXHAUSTED
    500: 13,  # INTERNAL
    503: 14,  # UNAVAILABLE
}
_UNKNOWN = 2


def status_response(
    status: int, message: str, media_type: str, headers: dict[str, str] | None = None
) -> Response:
    """``status`` with a Status body; protobuf when the request was protobuf, else JSON."""
    code = _CODES.get(status, _UNKNOWN)
    if media_type == PROTOBUF:
        body = Status(code=code, message=message).SerializeToString()
    else:
        body, media_type = orjson.dumps({"code": code, "message": message, "details": []}), JSON
    return Response(body, status, headers=headers, media_type=media_type)
