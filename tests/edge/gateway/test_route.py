"""Route choice and candidate order."""

from __future__ import annotations

import random
from collections import Counter

from edge.gateway.catalog import Candidate, Provider, Route
from edge.gateway.route import attempts, offered_models, plan, select_route
from tests.edge.conftest import OTHER_TENANT, TENANT


def route(route_id: str, *, tenant: str | None = None, tier: str = "*", model: str = "*") -> Route:
    return Route(route_id, tenant, tier, model, (Candidate("a", "*", 1),), 3, 30)


PROVIDERS = {
    "a": Provider("a", None, "openai", "http://a", frozenset()),
    "b": Provider("b", None, "openai", "http://b", frozenset({"gpt-4o"})),
    "c": Provider("c", None, "anthropic", "http://c", frozenset()),
}


def test_the_most_specific_route_wins() -> None:
    routes = [
        route("any"),
        route("tier", tier="complex"),
        route("model", model="gpt-4o"),
        route("mine", tenant=TENANT),
        route("theirs", tenant=OTHER_TENANT, model="gpt-4o"),
    ]
    assert select_route(routes, TENANT, "simple", "gpt-4o-mini").route_id == "mine"  # type: ignore[union-attr]
    assert select_route(routes, OTHER_TENANT, "simple", "gpt-4o").route_id == "theirs"  # type: ignore[union-attr]
    assert select_route(routes, OTHER_TENANT, "complex", "x").route_id == "tier"  # type: ignore[union-attr]
    assert select_route(routes, OTHER_TENANT, "simple", None).route_id == "any"  # type: ignore[union-attr]
    assert select_route(routes[2:3], TENANT, "simple", None) is None, "aliases need * routes"


def test_candidates_are_ordered_by_weight_with_standbys_last() -> None:
    candidates = (Candidate("a", "m", 3), Candidate("b", "gpt-4o", 1), Candidate("c", "m", 0))
    the_route = Route("r", None, "*", "*", candidates, 3, 30)
    rng = random.Random(5)
    firsts: Counter[str] = Counter()
    for _ in range(4000):
        targets = plan(the_route, "m", PROVIDERS, (), lambda p: True, rng)
        assert targets[-1].provider.provider_id == "c"
        firsts[targets[0].provider.provider_id] += 1
    assert 0.72 < firsts["a"] / 4000 < 0.78


def test_candidates_that_cannot_serve_are_left_out() -> None:
    candidates = (
        Candidate("a", "*", 1),
        Candidate("b", "gpt-4o-mini", 1),
        Candidate("c", "claude", 1),
    )
    the_route = Route("r", None, "*", "*", candidates, 3, 30)
    rng = random.Random(1)
    keys = {t.key for t in plan(the_route, "gpt-4o", PROVIDERS, (), lambda p: True, rng)}
    assert keys == {("a", "gpt-4o"), ("c", "claude")}, "b does not offer gpt-4o-mini"
    allowed = plan(the_route, "gpt-4o", PROVIDERS, {"gpt-4o"}, lambda p: True, rng)
    assert [t.key for t in allowed] == [("a", "gpt-4o")]
    same_api = plan(the_route, "gpt-4o", PROVIDERS, (), lambda p: p.kind == "openai", rng)
    assert [t.key for t in same_api] == [("a", "gpt-4o")]
    assert [t.key for t in plan(the_route, None, PROVIDERS, (), lambda p: True, rng)] == [
        ("c", "claude")
    ], "a wildcard candidate cannot serve a tier alias"


def test_attempts_cycle_through_the_candidates() -> None:
    targets = plan(
        Route("r", None, "*", "*", (Candidate("a", "x", 1), Candidate("c", "y", 0)), 3, 30),
        None,
        PROVIDERS,
        (),
        lambda p: True,
        random.Random(1),
    )
    assert [(n, t.provider.provider_id) for n, t in attempts(targets, 2)] == [
        (0, "a"),
        (0, "c"),
        (1, "a"),
        (1, "c"),
    ]
    assert list(attempts([], 3)) == []


def test_models_an_agent_is_offered() -> None:
    routes = [
        Route("r1", None, "simple", "*", (Candidate("a", "gpt-4o-mini", 1),), 3, 30),
        Route("r2", None, "*", "*", (Candidate("b", "*", 1),), 3, 30),
        Route("r3", OTHER_TENANT, "*", "secret", (Candidate("a", "*", 1),), 3, 30),
    ]
    assert offered_models(routes, PROVIDERS, TENANT, ()) == [
        "gpt-4o-mini",
        "gpt-4o",
        "acp/simple",
        "acp/standard",
        "acp/complex",
    ]
    assert offered_models(routes, PROVIDERS, TENANT, {"gpt-4o"})[0] == "gpt-4o"
