"""What the pipeline answers, for the HTTP layer to send: a body, or a stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from edge.gateway.verdicts import Refusal, error_body

if TYPE_CHECKING:
    from edge.gateway.stream_run import StreamRun


@dataclass
class Reply:
    status: int
    body: bytes = b""
    stream: StreamRun | None = None
    headers: dict[str, str] = field(default_factory=dict)


def refusal_reply(api: str, refusal: Refusal) -> Reply:
    headers = {"x-acp-code": refusal.code}
    if refusal.retry_after is not None:
        headers["retry-after"] = str(refusal.retry_after)
    if refusal.status == 401:
        headers["www-authenticate"] = "Bearer"
    if refusal.status in (400, 403, 404) or refusal.kind == "acp_budget":
        # Asking again changes nothing (SDKs otherwise retry 429 on their own).
        headers["x-should-retry"] = "false"
    body = error_body(api, refusal.status, refusal.kind, refusal.code, refusal.reason)
    return Reply(refusal.status, body, headers=headers)
