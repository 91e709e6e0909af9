"""The stages before the provider, for one request: the agent's request rate, parsing,
policy, the content filter, the route and its candidates (ordered by cost when routing
is automatic), the budgets that apply, and room in the spool for its record."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from edge.auth import Principal
from edge.config import EdgeConfig
from edge.gateway import cache, filtering, policy, routing_auto, translate
from edge.gateway.breaker import Breakers
from edge.gateway.budget import BudgetKey, applicable
from edge.gateway.capture import Exchange
from edge.gateway.catalog import AUTO, Budget, GatewayConfig, Price, Route, TenantPolicy
from edge.gateway.ratelimit import AgentRates
from edge.gateway.request import EMBEDDINGS, OPENAI, GatewayRequest, parse_request
from edge.gateway.route import Target, plan, select_route
from edge.gateway.verdicts import Refusal
from edge.spool import Spool
from edge.watch import Watch, request_items

SPOOL_RETRY_AFTER = 30


@dataclass
class Plan:
    """What the stages before routing decided for one request."""

    request: GatewayRequest
    config: GatewayConfig
    policy: TenantPolicy
    route: Route
    targets: list[Target]
    budgets: list[Budget]
    now: datetime
    headers: Mapping[str, str]
    spend: list[tuple[BudgetKey, Decimal]] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)
    cache: cache.Lookup | None = None
    auto: routing_auto.Choice | None = None
    frontier: Price | None = None
    """The ``complex`` tier's price when auto routing chose: the baseline of its saving."""


class Planner:
    def __init__(
        self,
        spool: Spool,
        breakers: Breakers,
        latencies: routing_auto.Latencies,
        watch: Watch,
        rng: random.Random,
    ) -> None:
        self.spool = spool
        self.breakers = breakers
        self.latencies = latencies
        self.watch = watch
        self.rng = rng
        self.agent_rates = AgentRates()

    def plan(
        self,
        config: EdgeConfig,
        principal: Principal,
        exchange: Exchange,
        api: str,
        operation: str,
        headers: Mapping[str, str],
        raw: bytes,
    ) -> Plan:
        gateway = config.gateway
        now = datetime.now(UTC)
        agent = gateway.agents.get(principal.agent_id)
        self.agent_rates.admit(principal.agent_id, agent.max_requests_per_minute if agent else None)
        request = parse_request(api, operation, raw, headers)
        exchange.requested_model = request.model
        exchange.stream = request.stream
        exchange.tools = request.tools
        tenant_policy = (
            gateway.policies.get(principal.tenant_id, policy.NO_POLICY)
            if agent
            else policy.NO_POLICY
        )
        exchange.data_classes = policy.data_classes(request, tenant_policy)[0]
        try:
            decision = policy.evaluate(gateway, principal, request, now)
        except Refusal:
            # Refused before the filter ran: the record still must not carry what the
            # tenant has personal data redacted from.
            if filtering.redact_pii(request, tenant_policy):
                exchange.request_body = request.body_text()
            raise
        self.watch.check_request(
            config.watch,
            principal.agent_id,
            principal.tenant_id,
            request_items(request.tools, exchange.data_classes, request.model),
        )
        tier, auto = decision.tier, None
        if tier == AUTO:
            auto = routing_auto.choose(request, decision.policy)
            tier = auto.tier
            exchange.annotations.update(auto.annotations())
        exchange.tier = tier
        try:
            filtering.screen(request, decision.policy, exchange.verdicts)
        finally:
            exchange.request_body = request.body_text()
        model = None if request.tier_alias else request.model
        route = select_route(gateway.routes, principal.tenant_id, tier, model)
        if route is None:
            raise Refusal(
                404,
                "acp_route",
                "route.no_route",
                f"no route serves model {request.model} at tier {tier}",
                stage="route",
            )
        exchange.route_id = route.route_id
        cross_api = translate.translatable(request)

        def serves(provider: Any) -> bool:
            if operation == EMBEDDINGS:
                return bool(provider.kind == OPENAI)
            return bool(provider.kind == api or cross_api)

        targets = plan(
            route, model, gateway.providers, decision.agent.allowed_models, serves, self.rng
        )
        if not targets:
            if plan(route, model, gateway.providers, (), serves, self.rng):
                raise Refusal(
                    403,
                    "acp_policy",
                    "policy.model_not_allowed",
                    f"no model of route {route.route_id} is allowed for this agent",
                    stage="policy",
                )
            raise Refusal(
                502,
                "acp_route",
                "route.no_candidate",
                f"no candidate of route {route.route_id} can serve this request "
                "(model not offered, or a request that does not translate across APIs)",
                stage="route",
            )
        frontier = None
        if auto is not None:
            tokens = routing_auto.expected_tokens(request, len(request.raw))
            targets = routing_auto.by_cost(
                targets, gateway.prices, now, tokens, self._unhealthy, self.latencies
            )
            frontier = routing_auto.frontier_price(
                gateway.routes,
                gateway.providers,
                gateway.prices,
                tenant_id=principal.tenant_id,
                model=model,
                allowed_models=decision.agent.allowed_models,
                serves=serves,
                now=now,
                tokens=tokens,
            )
        stats = self.spool.stats
        if stats.bytes >= stats.max_bytes:
            raise Refusal(
                503,
                "acp_capture",
                "capture.spool_full",
                "the edge cannot record more requests until the control plane pulls",
                stage="capture",
                retry_after=SPOOL_RETRY_AFTER,
            )
        return Plan(
            request=request,
            config=gateway,
            policy=decision.policy,
            route=route,
            targets=targets,
            budgets=applicable(gateway.budgets, principal, now),
            now=now,
            headers=headers,
            auto=auto,
            frontier=frontier,
        )

    def _unhealthy(self, target: Target) -> bool:
        return self.breakers.get(*target.key).state != "closed"
