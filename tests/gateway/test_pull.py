"""The pull worker pushes the signed bundle (or, to an edge without bundle support, the
plain v1 document) when the node is behind, after topping up its allowances."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from controlplane.core.tenancy import tenant_context
from controlplane.gateway.bundle import verify
from controlplane.gateway.models import BudgetAllowance, ConfigChange
from controlplane.gateway.services import budget_create
from controlplane.gateway.signing import signing_ring
from controlplane.telemetry import pull
from controlplane.telemetry.edge_client import EdgeRejected, Pulled
from tests.conftest import SYSTEM
from tests.gateway.conftest import World

pytestmark = pytest.mark.django_db


class FakeEdge:
    """Stands in for EdgeClient: records what is pushed, answers like an edge would."""

    def __init__(self, *, formats: list[str] | None, takes_bundles: bool = True) -> None:
        self.formats = formats
        self.takes_bundles = takes_bundles
        self.pushed: list[dict[str, Any]] = []
        self.version: int | None = None

    def __call__(self, base_url: str, token: str) -> FakeEdge:
        self.token = token
        return self

    def __enter__(self) -> FakeEdge:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def heartbeat(self) -> dict[str, Any]:
        beat: dict[str, Any] = {
            "config_version": self.version,
            "spool": {"records": 0, "acked_cursor": 0, "last_cursor": 0},
        }
        if self.formats is not None:
            beat["config_formats"] = self.formats
        return beat

    def put_config(self, document: dict[str, Any]) -> None:
        signed = document.get("format") == "acp-bundle-v1"
        if signed != self.takes_bundles:
            raise EdgeRejected("PUT /v1/config: HTTP 400 wrong format", 400)
        self.pushed.append(document)
        payload = verify(document, signing_ring().public_keys()) if signed else document
        self.version = payload["version"]

    def pull(self, *, after: int, limit: int) -> Pulled:
        return Pulled(lines=[], next_cursor=after)

    def ack(self, cursor: int) -> None:
        pass


def _pull(world: World, edge: FakeEdge, monkeypatch: pytest.MonkeyPatch) -> pull.PullResult:
    monkeypatch.setattr(pull, "EdgeClient", edge)
    result = pull.pull_edge_node(world.nodes[0].pk, worker="test")
    assert result is not None and result.error == "", result
    return result


def test_a_behind_edge_gets_the_signed_bundle_with_its_allowance(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    budget = budget_create(
        actor=SYSTEM, tenant=world.tenant, scope="tenant", period="day", limit=90, kind="hard"
    )
    edge = FakeEdge(formats=["acp-bundle-v1"])
    _pull(world, edge, monkeypatch)

    assert len(edge.pushed) == 1
    assert edge.token == world.tokens[str(world.nodes[0].pk)]
    payload = json.loads(base64.b64decode(edge.pushed[0]["payload"]))
    site = world.refresh_site()
    assert payload["version"] == site.config_version  # includes the allowance's bump
    hard = next(b for b in payload["budgets"] if b["budget_id"] == str(budget.pk))
    assert hard["allowance"] == "30.000000"
    with tenant_context(world.tenant):
        assert BudgetAllowance.objects.get(edge_node_id=world.nodes[0].pk).allowance == 30
        assert ConfigChange.objects.filter(version=site.config_version).exists()
        world.nodes[0].refresh_from_db()
    assert world.nodes[0].config_version_applied == site.config_version

    _pull(world, edge, monkeypatch)
    assert len(edge.pushed) == 1  # up to date: nothing pushed again


def test_an_edge_that_lists_only_the_plain_format_gets_the_plain_document(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = FakeEdge(formats=["acp-config-v1"], takes_bundles=False)
    _pull(world, edge, monkeypatch)
    (document,) = edge.pushed
    assert set(document) == {"version", "node_id", "site_id", "devices", "agent_keys"}
    assert not any(secret in json.dumps(document) for secret in world.secrets.values())


def test_an_older_edge_without_formats_falls_back_to_the_plain_document(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = FakeEdge(formats=None, takes_bundles=False)
    _pull(world, edge, monkeypatch)
    assert [d.get("format") for d in edge.pushed] == [None]
    assert edge.version == world.refresh_site().config_version


def test_an_edge_without_formats_that_takes_bundles_gets_the_bundle(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    edge = FakeEdge(formats=None, takes_bundles=True)
    _pull(world, edge, monkeypatch)
    assert [d.get("format") for d in edge.pushed] == ["acp-bundle-v1"]
