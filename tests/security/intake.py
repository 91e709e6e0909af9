"""Scenario data into a tenant the ways a customer's data arrives: live through a real
edge process from a site collector, or imported from the collector's files."""

from __future__ import annotations

import gzip
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from controlplane.agents.collectors import collector_key_issue
from controlplane.agents.models import EdgeNode, Site
from controlplane.agents.services import agent_create, edge_node_create, sha256_hex, site_create
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.signing import bundle_public_keys
from controlplane.security.scenario_otlp import as_json_line
from controlplane.security.scenarios import Plan
from controlplane.telemetry.pull import pull_edge_node
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.edge.conftest import EdgeProcess

PROTOBUF = "application/x-protobuf"


def register_agents(plan: Plan, tenant: Tenant, site: Site | None = None) -> dict[str, uuid.UUID]:
    """The plan's agents in ``tenant`` (registered at ``site``, for its collector)."""
    ids = {}
    for spec in plan.tenants[0].agents:
        tools = list(spec.tools + spec.extra_tools) if spec.extra_tools else []
        agent = agent_create(
            actor=SYSTEM, tenant=tenant, name=spec.name, role=spec.role, tools=tools, site=site
        )
        ids[spec.name] = agent.pk
    return ids


@dataclass
class LiveSite:
    """A site with a running edge process and a site collector key."""

    tenant: Tenant
    site: Site
    node: EdgeNode
    edge: EdgeProcess
    collector_key: str

    def send(self, message: bytes) -> ExportTraceServiceResponse:
        response = httpx.post(
            f"{self.edge.url}/v1/traces",
            content=message,
            headers={"Authorization": f"Bearer {self.collector_key}", "Content-Type": PROTOBUF},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        return ExportTraceServiceResponse.FromString(response.content)

    def pull_all(self) -> int:
        """Pull until the edge has nothing left; how many records came."""
        total = 0
        while True:
            result = pull_edge_node(self.node.pk, worker="test")
            assert result is not None and result.error == "", result
            total += result.records
            if result.records == 0:
                return total


def live_site(tenant: Tenant, directory: Path, *, name: str = "HQ") -> LiveSite:
    site = site_create(actor=SYSTEM, tenant=tenant, name=name)
    node, token = edge_node_create(
        actor=SYSTEM,
        site=site,
        name=f"{name.lower()}-edge",
        pull_url="http://127.0.0.1:1",
        agent_url="http://127.0.0.1:1",
    )
    edge = EdgeProcess(
        directory,
        EDGE_NODE_TOKEN_SHA256=sha256_hex(token),
        EDGE_NODE_TOKEN=token,
        EDGE_BUNDLE_PUBLIC_KEYS=bundle_public_keys(),
    )
    with tenant_context(tenant):
        EdgeNode.objects.filter(pk=node.pk).update(pull_url=edge.url, agent_url=edge.url)
    node.pull_url = node.agent_url = edge.url
    edge.start()
    _, secret = collector_key_issue(actor=SYSTEM, site=site, name="otel-collector")
    return LiveSite(tenant, site, node, edge, secret)


def write_exporter_files(messages: list[bytes], directory: Path) -> list[Path]:
    """The messages as a collector's file exporter writes them: the first half as JSON
    lines (gzipped), the rest as length-delimited protobuf."""
    half = len(messages) // 2
    json_path = directory / "traces.jsonl.gz"
    with gzip.open(json_path, "wb") as handle:
        for message in messages[:half]:
            handle.write(as_json_line(message))
    proto_path = directory / "traces.pb"
    with proto_path.open("wb") as handle:
        for message in messages[half:]:
            handle.write(len(message).to_bytes(4, "big") + message)
    return [json_path, proto_path]
