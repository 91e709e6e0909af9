"""Stage 1: the agent and its device, exactly as for ``/v1/traces`` (edge/auth.py).

The OpenAI SDK sends the agent key as ``Authorization: Bearer``, the Anthropic SDK as
``x-api-key``; either is accepted, Authorization first.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.auth import AuthError, Principal, authenticate_agent
from edge.auth_throttle import AuthThrottle
from edge.config import EdgeConfig
from edge.gateway.verdicts import Refusal

_CODES = {403: "auth.wrong_device", 429: "auth.throttled"}


def authenticate(
    config: EdgeConfig | None,
    headers: Mapping[str, str],
    throttle: AuthThrottle | None = None,
    address: str = "",
) -> Principal:
    authorization = headers.get("authorization")
    if not authorization and headers.get("x-api-key"):
        authorization = f"Bearer {headers['x-api-key'].strip()}"

    def check() -> Principal:
        return authenticate_agent(
            config,
            authorization,
            headers.get("x-acp-device-id"),
            headers.get("x-acp-device-key"),
        )

    try:
        principal = (
            check() if throttle is None else throttle.authenticate(address, authorization, check)
        )
    except AuthError as error:
        raise Refusal(
            error.status,
            "acp_auth",
            _CODES.get(error.status, "auth.unauthenticated"),
            error.detail,
            stage="authenticate",
            retry_after=error.retry_after,
        ) from None
    if config is not None and config.quarantined(
        principal.agent_id, principal.device_id, principal.tenant_id
    ):
        raise Refusal(
            403,
            "acp_security",
            "security.quarantined",
            "this agent is in quarantine by the security team; ask your MSP to release it",
            stage="authenticate",
        )
    return principal
