"""A tenant with a site, a running edge node process, and a registered agent."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from controlplane.agents.models import Agent, EdgeNode
from controlplane.agents.services import (
    edge_node_create,
    edge_node_token,
    sha256_hex,
    site_create,
)
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.signing import bundle_public_keys
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.edge.conftest import EdgeProcess


@dataclass
class Site:
    tenant: Tenant
    node: EdgeNode
    edge: EdgeProcess

    def issue_key(self, agent: str, *, create: bool = True) -> dict[str, str]:
        """Run ``issue_agent_key`` and parse its NAME=value lines."""
        out = StringIO()
        args = ["issue_agent_key", "--tenant", self.tenant.slug, "--agent", agent]
        call_command(*args, *(["--create"] if create else []), stdout=out)
        return dict(
            shlex.split(line)[0].split("=", 1) for line in out.getvalue().splitlines() if line
        )

    @property
    def node_token(self) -> str:
        return edge_node_token(self.node)

    def node_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.node_token}"}

    def agent(self, name: str) -> Agent:
        with tenant_context(self.tenant):
            return Agent.objects.get(name=name)


@pytest.fixture
def site(tenant_a: Tenant, tmp_path: Path) -> Iterator[Site]:
    the_site = site_create(actor=SYSTEM, tenant=tenant_a, name="HQ")
    # The edge process needs the node token's digest and the node needs the process's
    # address: register first, then point the node at the port the process got.
    node, token = edge_node_create(
        actor=SYSTEM,
        site=the_site,
        name="edge-1",
        pull_url="http://127.0.0.1:1",
        agent_url="http://127.0.0.1:1",
    )
    edge = EdgeProcess(
        tmp_path / "edge",
        EDGE_NODE_TOKEN_SHA256=sha256_hex(token),
        EDGE_NODE_TOKEN=token,
        EDGE_BUNDLE_PUBLIC_KEYS=bundle_public_keys(),
    )
    with tenant_context(tenant_a):
        EdgeNode.objects.filter(pk=node.pk).update(pull_url=edge.url, agent_url=edge.url)
    node.pull_url = node.agent_url = edge.url
    edge.start()
    running = Site(tenant=tenant_a, node=node, edge=edge)
    try:
        yield running
    finally:
        edge.stop()
        running.edge.stop()  # a test may have put another edge process in its place
