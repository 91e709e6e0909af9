"""Stage 2: is this agent allowed to make this request, here and now?

The agent's profile from the bundle decides: its operating window, the models it may
use, the tools it may call, and the data classes it may touch — declared with
``x-acp-data-classes`` or implied by the tools through the tenant's
``tool_data_classes`` (a marketing agent calling a finance tool touches finance data).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.auth import Principal
from edge.gateway.catalog import NO_POLICY, AgentProfile, GatewayConfig, TenantPolicy
from edge.gateway.request import GatewayRequest
from edge.gateway.verdicts import Refusal

STAGE = "policy"


@dataclass(frozen=True)
class PolicyDecision:
    agent: AgentProfile
    policy: TenantPolicy
    tier: str
    data_classes: tuple[str, ...]
    """Declared and implied, in a stable order."""


def _refuse(code: str, reason: str) -> Refusal:
    return Refusal(403, "acp_policy", code, reason, stage=STAGE)


def data_classes(
    request: GatewayRequest, policy: TenantPolicy
) -> tuple[tuple[str, ...], dict[str, str]]:
    """The classes the request touches, and for each the tool that implies it (or "")."""
    sources = dict.fromkeys(request.data_classes, "")
    for tool in request.tools:
        for data_class in sorted(policy.tool_data_classes.get(tool, ())):
            sources.setdefault(data_class, tool)
    return tuple(sources), sources


def evaluate(
    gateway: GatewayConfig, principal: Principal, request: GatewayRequest, now: datetime
) -> PolicyDecision:
    agent = gateway.agents.get(principal.agent_id)
    if agent is None or agent.tenant_id != principal.tenant_id:
        raise _refuse("policy.unknown_agent", "this agent has no gateway profile on this edge")
    policy = gateway.policies.get(agent.tenant_id, NO_POLICY)
    window = agent.operating_window
    if window is not None and not window.contains(now):
        local = now.astimezone(window.tz)
        raise _refuse(
            "policy.outside_window",
            f"outside the agent's operating window ({local:%a %H:%M} {window.tz.key})",
        )
    if (
        request.tier_alias is None
        and agent.allowed_models
        and request.model not in agent.allowed_models
    ):
        raise _refuse("policy.model_not_allowed", f"model {request.model} is not allowed")
    if agent.allowed_tools:
        for tool in request.tools:
            if tool not in agent.allowed_tools:
                raise _refuse("policy.tool_not_allowed", f"tool {tool} is not allowed")
    classes, sources = data_classes(request, policy)
    for data_class in classes:
        if data_class not in agent.data_classes:
            via = f" (implied by tool {sources[data_class]})" if sources[data_class] else ""
            role = f"{agent.role} agent" if agent.role else "this agent"
            raise _refuse(
                "policy.data_class_not_allowed",
                f"{role} may not access {data_class} data{via}",
            )
    return PolicyDecision(
        agent=agent,
        policy=policy,
        tier=request.tier_alias or request.tier_override or agent.tier,
        data_classes=classes,
    )
