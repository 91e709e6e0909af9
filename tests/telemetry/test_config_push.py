"""The pull worker pushes the signed bundle to a real edge node when it is behind,
after topping up the node's budget allowances; an edge without bundle keys gets the
plain registry document."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from django.utils import timezone

import edge
from controlplane.agents.models import EdgeNodeVersionChange, Site
from controlplane.agents.services import sha256_hex
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import BudgetAllowance, ConfigChange
from controlplane.gateway.selectors import period_start
from controlplane.gateway.services import budget_create
from controlplane.telemetry.pull import pull_edge_node
from tests.conftest import SYSTEM
from tests.edge.conftest import EdgeProcess
from tests.telemetry.conftest import Site as RunningSite  # the running edge node

pytestmark = pytest.mark.django_db


def _heartbeat(site: RunningSite) -> dict[str, object]:
    with httpx.Client(base_url=site.edge.url) as client:
        body: dict[str, object] = client.get("/v1/heartbeat", headers=site.node_headers()).json()
    return body


def test_a_behind_edge_gets_the_signed_bundle_with_its_allowance(site: RunningSite) -> None:
    budget = budget_create(
        actor=SYSTEM, tenant=site.tenant, scope="tenant", period="day", limit=90, kind="hard"
    )
    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None and result.error == ""

    with tenant_context(site.tenant):
        version = Site.objects.get(pk=site.node.site_id).config_version
        # Within the last hour of a day the node also gets tomorrow's row (PREGRANT).
        allowance = BudgetAllowance.objects.get(
            budget=budget,
            edge_node_id=site.node.pk,
            period_start=period_start(budget.period, timezone.now()),
        )
        published = ConfigChange.objects.filter(version=version).count()
    assert Decimal(0) < allowance.allowance <= Decimal(90)
    assert published == 1
    heartbeat = _heartbeat(site)
    assert heartbeat["config_version"] == version
    assert "acp-bundle-v1" in heartbeat["config_formats"]  # type: ignore[operator]

    pull_edge_node(site.node.pk, worker="test")
    with tenant_context(site.tenant):
        assert ConfigChange.objects.count() == published  # up to date: nothing new
        # Its deployment history: the version it reported, once however often it reports.
        history = list(EdgeNodeVersionChange.objects.values_list("previous_version", "version"))
    assert history == [("", edge.__version__)]


def test_an_edge_without_bundle_keys_gets_the_plain_registry_document(
    site: RunningSite, tmp_path: Path
) -> None:
    site.edge.stop()
    site.edge = EdgeProcess(
        tmp_path / "plain-edge",
        port=site.edge.port,
        EDGE_NODE_TOKEN_SHA256=sha256_hex(site.node_token),
    ).start()
    assert _heartbeat(site)["config_formats"] == ["acp-config-v1"]

    result = pull_edge_node(site.node.pk, worker="test")

    assert result is not None and result.error == ""
    with tenant_context(site.tenant):
        version = Site.objects.get(pk=site.node.site_id).config_version
    assert _heartbeat(site)["config_version"] == version
