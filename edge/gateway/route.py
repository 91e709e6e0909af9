"""Stage 5 (choice): which route serves a request, and in which order its candidates
are tried. The attempts themselves (with failover) run in ``service``.

The most specific route wins: the tenant's own over a shared one, an exact model over
``*``, an exact tier over ``*``; among equals the first in the bundle. Candidates are
ordered by weighted random choice (weight 0: standby, tried last in bundle order);
those that cannot serve the request (model not offered, not allowed for the agent, API
not translatable) are left out.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass

from edge.gateway.catalog import ANY, Provider, Route


@dataclass(frozen=True)
class Target:
    provider: Provider
    model: str

    @property
    def key(self) -> tuple[str, str]:
        return self.provider.provider_id, self.model


def select_route(
    routes: Sequence[Route], tenant_id: str, tier: str, model: str | None
) -> Route | None:
    """``model`` is None for a tier alias (``acp/standard``): only ``*`` routes match."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for route in routes:
        if route.tenant_id not in (None, tenant_id):
            continue
        if route.model != ANY and route.model != model:
            continue
        if route.tier not in (ANY, tier):
            continue
        rank = (route.tenant_id is not None, route.model != ANY, route.tier != ANY)
        score = (int(rank[0]), int(rank[1]), int(rank[2]))
        if best is None or score > best:
            best, chosen = score, route
    return chosen


def plan(
    route: Route,
    model: str | None,
    providers: Mapping[str, Provider],
    allowed_models: Collection[str],
    serves: Callable[[Provider], bool],
    rng: random.Random,
) -> list[Target]:
    """The route's usable candidates, in the order to try them."""
    weighted: list[tuple[float, Target]] = []
    standby: list[Target] = []
    for candidate in route.candidates:
        provider = providers[candidate.provider_id]
        target_model = model if candidate.model == ANY else candidate.model
        if target_model is None:
            continue
        if provider.models and target_model not in provider.models:
            continue
        if allowed_models and target_model not in allowed_models:
            continue
        if not serves(provider):
            continue
        target = Target(provider, target_model)
        if candidate.weight > 0:
            # Efraimidis-Spirakis: sorting by u^(1/w) is weighted sampling without
            # replacement, so weights set the share of first choices.
            weighted.append((rng.random() ** (1 / candidate.weight), target))
        else:
            standby.append(target)
    weighted.sort(key=lambda pair: pair[0], reverse=True)
    return [target for _, target in weighted] + standby


def attempts(targets: Sequence[Target], max_attempts: int) -> Iterator[tuple[int, Target]]:
    """Targets in turn, starting over when all were tried, for at most ``max_attempts``
    rounds of offers; the caller counts what it really sent."""
    if not targets:
        return
    for index in range(max_attempts * len(targets)):
        yield index // len(targets), targets[index % len(targets)]


def offered_models(
    routes: Sequence[Route],
    providers: Mapping[str, Provider],
    tenant_id: str,
    allowed_models: Collection[str],
) -> list[str]:
    """What ``GET /v1/models`` lists for an agent: concrete models its tenant's routes
    offer (those it may use) and the tier aliases that have a route."""
    names: dict[str, None] = {}
    tiers: dict[str, None] = {}
    for route in routes:
        if route.tenant_id not in (None, tenant_id):
            continue
        if route.model != ANY:
            names[route.model] = None
        else:
            for candidate in route.candidates:
                if candidate.model != ANY:
                    names[candidate.model] = None
                else:
                    names.update(dict.fromkeys(sorted(providers[candidate.provider_id].models)))
            tiers.update(
                dict.fromkeys(("simple", "standard", "complex"))
                if route.tier == ANY
                else {route.tier: None}
            )
    usable = [name for name in names if not allowed_models or name in allowed_models]
    return usable + [f"acp/{tier}" for tier in tiers]
