"""Stage 1: the agent and its device, exactly as for ``/v1/traces`` (edge/auth.py).

The OpenAI SDK sends the agent key as ``Authorization: Bearer``, the Anthropic SDK as
``x-api-key``; either is accepted, Authorization first.
"""

from __future__ import annotations

from collections.abc import Mapping

from edge.auth import AuthError, Principal, authenticate_agent
from edge.config import EdgeConfig
from edge.gateway.verdicts import Refusal


def authenticate(config: EdgeConfig | None, headers: Mapping[str, str]) -> Principal:
    authorization = headers.get("authorization")
    if not authorization and headers.get("x-api-key"):
        authorization = f"Bearer {headers['x-api-key'].strip()}"
    try:
        principal = authenticate_agent(
            config,
            authorization,
            headers.get("x-acp-device-id"),
            headers.get("x-acp-device-key"),
        )
    except AuthError as error:
        code = "auth.wrong_device" if error.status == 403 else "auth.unauthenticated"
        raise Refusal(error.status, "acp_auth", code, error.detail, stage="authenticate") from None
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
