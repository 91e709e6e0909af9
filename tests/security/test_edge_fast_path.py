"""The edge fast path through a real ``python -m edge`` process: the agent's learned
scope and ceilings reach the edge in the signed bundle, the edge refuses (or flags) what
is outside them, and the next pull raises it as an alert naming the item and why."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from django.utils import timezone

from controlplane.agents.services import agent_update
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.services import policy_set, role_default_set
from controlplane.security.models import Alert, EdgeProfile
from controlplane.security.profiles import profiles_learn
from controlplane.telemetry.pull import pull_edge_node
from tests.conftest import SYSTEM
from tests.edge.conftest import make_span, protobuf_body
from tests.security import spans
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db


def _agent_headers(env: dict[str, str]) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {env['OPENAI_API_KEY']}"}
    for pair in env["AGENT_DEVICE_HEADERS"].split(","):
        name, _, value = pair.partition("=")
        headers[name] = value
    return headers


def _learned_agent(site: Site, name: str) -> tuple[dict[str, str], EdgeProfile]:
    env = site.issue_key(name)
    agent = site.agent(name)
    spans.insert(
        tenant_id=site.tenant.pk,
        site_id=site.node.site_id,
        node_id=site.node.pk,
        agent_id=agent.pk,
        rows=spans.history(timezone.now() - dt.timedelta(hours=1)),
    )
    assert profiles_learn(tenant_id=site.tenant.pk) == 1
    with tenant_context(site.tenant):
        profile = EdgeProfile.objects.get(agent_id=agent.pk)
    return _agent_headers(env), profile


def _chat(site: Site, headers: dict[str, str], tool: str) -> httpx.Response:
    body = {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hi"}],
        "tools": [{"type": "function", "function": {"name": tool, "parameters": {}}}],
    }
    return httpx.post(f"{site.edge.url}/v1/chat/completions", json=body, headers=headers)


def test_refused_at_the_edge_and_raised_as_a_scope_alert_at_the_next_pull(site: Site) -> None:
    headers, profile = _learned_agent(site, "support-bot")
    assert profile.allow["tool"] == ["kb.search"]
    assert profile.allow["host"] == []
    assert profile.max_rows_per_minute == 1000  # the floor: three rows at most so far
    policy_set(actor=SYSTEM, tenant=site.tenant, scope_enforcement="refuse")
    assert pull_edge_node(site.node.pk, worker="test").error == ""  # pushes the bundle

    refused = _chat(site, headers, "crm.export")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "security.scope"
    assert "crm.export" in refused.json()["error"]["message"]
    span = make_span(1, {"gen_ai.tool.name": "kb.search", "server.address": "paste.example"})
    accepted = httpx.post(
        f"{site.edge.url}/v1/traces",
        content=protobuf_body([span]),
        headers={**headers, "Content-Type": "application/x-protobuf"},
    )
    assert accepted.status_code == 200, "a span is evidence: accepted, and flagged"

    assert pull_edge_node(site.node.pk, worker="test").error == ""
    with tenant_context(site.tenant):
        alert = Alert.objects.get(kind="scope")
    items = {(i["dimension"], i["item"]): i for i in alert.evidence["items"]}
    assert set(items) == {("tool", "crm.export"), ("host", "paste.example")}
    assert items[("tool", "crm.export")]["action"] == "refused"
    assert items[("host", "paste.example")]["action"] == "flagged"
    assert "learned allow-set" in items[("tool", "crm.export")]["why"]
    assert alert.agent_ids == [site.agent("support-bot").pk]
    assert alert.evidence["source"] == "edge"

    # Acknowledged: the next pull raises nothing new.
    assert pull_edge_node(site.node.pk, worker="test").error == ""
    with tenant_context(site.tenant):
        assert Alert.objects.count() == 1


def test_flag_mode_of_the_role_serves_the_call_and_still_raises_it(site: Site) -> None:
    headers, _ = _learned_agent(site, "support-bot")
    agent_update(actor=SYSTEM, agent=site.agent("support-bot"), role="support")
    policy_set(actor=SYSTEM, tenant=site.tenant, scope_enforcement="refuse")
    role_default_set(actor=SYSTEM, tenant=site.tenant, role="support", scope_enforcement="flag")
    assert pull_edge_node(site.node.pk, worker="test").error == ""

    answer = _chat(site, headers, "crm.export")
    assert answer.json().get("error", {}).get("code") != "security.scope"
    assert pull_edge_node(site.node.pk, worker="test").error == ""
    with tenant_context(site.tenant):
        alert = Alert.objects.get(kind="scope")
    assert alert.evidence["items"][0]["action"] == "flagged"
