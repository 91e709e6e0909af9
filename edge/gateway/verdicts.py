"""What the stages decide: verdicts kept on the record, and refusals that end a request."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

ALLOW, FLAG, REDACT, BLOCK = "allow", "flag", "redact", "block"


@dataclass(frozen=True)
class Verdict:
    stage: str
    verdict: str
    code: str
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "verdict": self.verdict,
            "code": self.code,
            "reason": self.reason,
        }


class Refusal(Exception):
    """The gateway answers the agent itself: ``kind`` is the OpenAI error ``type``
    (``acp_policy``, ``acp_filter``, ``acp_budget``, ``acp_auth``, ``acp_route`` or
    ``invalid_request_error``), ``code`` the machine code."""

    def __init__(
        self,
        status: int,
        kind: str,
        code: str,
        reason: str,
        *,
        stage: str,
        retry_after: int | None = None,
        record_status: str = "refused",
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.kind = kind
        self.code = code
        self.reason = reason
        self.stage = stage
        self.retry_after = retry_after
        self.record_status = record_status
        """What the capture record says: ``refused`` unless providers were tried and
        failed (``error``/``timeout``)."""

    @property
    def verdict(self) -> Verdict:
        return Verdict(self.stage, BLOCK, self.code, self.reason)


_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
}


def error_body(api: str, status: int, kind: str, code: str, message: str) -> bytes:
    """The provider-style error body the agent's SDK parses (docs/gateway.md)."""
    if api == "anthropic":
        return orjson.dumps(
            {
                "type": "error",
                "error": {
                    "type": _ANTHROPIC_TYPES.get(status, "api_error"),
                    "message": f"{code}: {message}",
                    "acp_type": kind,
                    "acp_code": code,
                },
            }
        )
    return orjson.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}})
