"""A site's OpenTelemetry Collector through a real edge process into both stores: spans
of the site's agents mapped by resource attribute, unknown agents refused or
registered, and a key that is rotated or revoked stops working at the next pull."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from controlplane.agents.collectors import (
    collector_key_issue,
    collector_key_revoke,
    collector_key_rotate,
)
from controlplane.agents.models import Agent
from controlplane.agents.models import Site as SiteModel
from controlplane.agents.services import agent_create, site_update
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.pull import pull_edge_node
from tests.conftest import SYSTEM
from tests.edge.conftest import export_request, make_span
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db

PROTOBUF = "application/x-protobuf"


def _send(site: Site, key: str, *resources: dict[str, str], trace: int = 1) -> httpx.Response:
    request = export_request([make_span(1, trace=trace)], resources[0])
    for number, resource in enumerate(resources[1:], start=2):
        request.resource_spans.extend(
            export_request([make_span(number, trace=trace)], resource).resource_spans
        )
    return httpx.post(
        f"{site.edge.url}/v1/traces",
        content=request.SerializeToString(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": PROTOBUF},
    )


def _pull(site: Site) -> None:
    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None and result.error == "", result


def _site_model(site: Site) -> SiteModel:
    with tenant_context(site.tenant):
        return SiteModel.objects.get(pk=site.node.site_id)


def _ledger_agents(site: Site, trace: int) -> dict[str, int]:
    with tenant_context(site.tenant):
        rows = list(
            UsageEvent.objects.filter(trace_id=f"{trace:032x}").values_list("agent_id", flat=True)
        )
        names = dict(Agent.objects.values_list("pk", "name"))
    counts: dict[str, int] = {}
    for agent_id in rows:
        counts[names[agent_id]] = counts.get(names[agent_id], 0) + 1
    return counts


def test_a_collector_speaks_for_the_sites_agents_and_unknown_ones_are_refused(
    site: Site,
) -> None:
    site.issue_key("support-bot")  # on a device at the site
    nightly = agent_create(actor=SYSTEM, tenant=site.tenant, name="nightly", site=_site_model(site))
    _, key = collector_key_issue(actor=SYSTEM, site=_site_model(site), name="otel")
    _pull(site)

    response = _send(
        site,
        key,
        {"service.name": "support-bot"},
        {"agent.id": str(nightly.pk)},
        {"service.name": "stranger"},
    )
    assert response.status_code == 200
    partial = ExportTraceServiceResponse.FromString(response.content).partial_success
    assert partial.rejected_spans == 1 and "stranger" in partial.error_message

    _pull(site)
    assert _ledger_agents(site, 1) == {"support-bot": 1, "nightly": 1}
    with tenant_context(site.tenant):
        assert not UsageEvent.objects.filter(device_id__isnull=False, trace_id=f"{1:032x}")
        assert not Agent.objects.filter(name="stranger").exists()


def test_with_auto_registration_a_collectors_new_agent_appears_at_the_next_pull(
    site: Site,
) -> None:
    agent_create(actor=SYSTEM, tenant=site.tenant, name="elsewhere")  # at no site
    _, key = collector_key_issue(actor=SYSTEM, site=_site_model(site), name="otel")
    site_update(actor=SYSTEM, site=_site_model(site), collector_auto_register=True)
    _pull(site)

    response = _send(site, key, {"service.name": "stranger"}, {"service.name": "elsewhere"})
    assert not ExportTraceServiceResponse.FromString(response.content).HasField("partial_success")
    _pull(site)
    with tenant_context(site.tenant):
        stranger = Agent.objects.get(name="stranger")
        assert stranger.site_id == site.node.site_id
    assert _ledger_agents(site, 1) == {"stranger": 1, "elsewhere (HQ)": 1}, (
        "a name taken elsewhere in the tenant gets the site's name"
    )
    with all_tenants_context():
        assert AuditEvent.unscoped.filter(action="agent.registered_by_collector").count() == 2

    _pull(site)  # the edge learns the new agents
    _send(site, key, {"service.name": "stranger"}, trace=2)
    _pull(site)
    assert _ledger_agents(site, 2) == {"stranger": 1}
    with tenant_context(site.tenant):
        assert Agent.objects.filter(name__startswith="stranger").count() == 1


def test_a_rotated_or_revoked_collector_key_stops_working_at_the_next_pull(
    site: Site,
) -> None:
    site.issue_key("support-bot")
    key, old = collector_key_issue(actor=SYSTEM, site=_site_model(site), name="otel")
    _pull(site)
    assert _send(site, old, {"service.name": "support-bot"}).status_code == 200

    new = collector_key_rotate(actor=SYSTEM, key=key)
    _pull(site)
    assert _send(site, old, {"service.name": "support-bot"}).status_code == 401
    assert _send(site, new, {"service.name": "support-bot"}).status_code == 200

    collector_key_revoke(actor=SYSTEM, key=key)
    _pull(site)
    assert _send(site, new, {"service.name": "support-bot"}).status_code == 401
