"""From an agent's OpenTelemetry SDK through a running edge node into both stores."""

from __future__ import annotations

import hashlib
import time

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from controlplane.agents.services import edge_node_token
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.pull import _digest, pull_edge_node
from controlplane.telemetry.spans import trace_list, trace_spans
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db


def _send_agent_run(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> str:
    """An agent run through the official SDK, configured only by the issued variables."""
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_HEADERS"):
        monkeypatch.setenv(name, env[name])
    provider = TracerProvider(resource=Resource.create({"service.name": env["OTEL_SERVICE_NAME"]}))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
    tracer = provider.get_tracer("test-agent")
    with tracer.start_as_current_span("invoke_agent support-bot") as root:
        with tracer.start_as_current_span("chat gpt-4o-mini") as chat:
            chat.set_attributes(
                {
                    "gen_ai.operation.name": "chat",
                    "gen_ai.provider.name": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 1200,
                    "gen_ai.usage.output_tokens": 310,
                    "gen_ai.input.messages": '[{"role": "user", "content": "hello"}]',
                }
            )
        with tracer.start_as_current_span("execute_tool tickets.search") as tool:
            tool.set_attributes(
                {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "tickets.search"}
            )
            tool.set_status(Status(StatusCode.ERROR, "request timed out"))
            tool.set_attribute("error.type", "timeout")
        trace_id = format(root.get_span_context().trace_id, "032x")
    provider.shutdown()
    return trace_id


def test_issued_variables_configure_a_client_for_the_edge(site: Site) -> None:
    env = site.issue_key("support-bot")
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == site.edge.url
    assert env["OPENAI_BASE_URL"] == f"{site.edge.url}/v1"
    assert env["OPENAI_API_KEY"] == env["ANTHROPIC_API_KEY"]
    assert env["OPENAI_API_KEY"].startswith("acpk_")
    assert "Authorization=Bearer%20acpk_" in env["OTEL_EXPORTER_OTLP_HEADERS"]
    agent = site.agent("support-bot")
    assert f"x-acp-device-id={agent.device_id}" in env["AGENT_DEVICE_HEADERS"]


def test_a_trace_from_the_sdk_lands_in_the_ledger_and_clickhouse(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = site.issue_key("support-bot")
    assert pull_edge_node(site.node.pk, worker="test").error == ""  # pushes the config
    trace_id = _send_agent_run(monkeypatch, env)

    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None and result.error == ""
    assert result.records == 3 and result.new_in_ledger == 3

    with tenant_context(site.tenant):
        ledger = list(UsageEvent.objects.filter(trace_id=trace_id))
    spans = trace_spans(site.tenant.pk, trace_id)
    assert len(ledger) == len(spans) == 3
    assert sum(e.input_tokens for e in ledger) == sum(s["input_tokens"] for s in spans) == 1200
    assert sum(e.output_tokens for e in ledger) == sum(s["output_tokens"] for s in spans) == 310
    assert {e.status for e in ledger} == {"ok", "timeout"}
    assert {s["kind"] for s in spans} == {"step", "model", "tool"}
    chat = next(s for s in spans if s["kind"] == "model")
    assert "hello" in chat["request_body"]
    listed = trace_list(
        site.tenant.pk,
        since=ledger[0].occurred_at.replace(hour=0, minute=0),
        until=ledger[0].occurred_at.replace(hour=23, minute=59),
        limit=10,
    )
    assert [t["trace_id"] for t in listed] == [trace_id]
    assert listed[0]["status"] == "timeout"


def test_a_second_pull_finds_nothing_new_and_the_edge_spool_is_emptied(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = site.issue_key("support-bot")
    pull_edge_node(site.node.pk, worker="test")
    _send_agent_run(monkeypatch, env)
    pull_edge_node(site.node.pk, worker="test")
    again = pull_edge_node(site.node.pk, worker="test")
    assert again is not None and again.records == 0
    with site.edge.client() as client:
        heartbeat = client.get("/v1/heartbeat", headers=_node_headers(site)).json()
    assert heartbeat["spool"]["records"] == 0


def test_an_unreachable_edge_is_retried_with_backoff(site: Site) -> None:
    site.edge.stop()
    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None and "GET /v1/heartbeat" in result.error
    with tenant_context(site.tenant):
        site.node.refresh_from_db()
    assert site.node.consecutive_failures == 1
    assert site.node.next_attempt_at is not None
    assert site.node.last_error
    site.edge.start()
    time.sleep(0.1)
    assert pull_edge_node(site.node.pk, worker="test").error == ""
    with tenant_context(site.tenant):
        site.node.refresh_from_db()
    assert site.node.consecutive_failures == 0 and site.node.last_success_at is not None


def _node_headers(site: Site) -> dict[str, str]:
    return {"Authorization": f"Bearer {edge_node_token(site.node)}"}


def test_a_batch_keeps_the_digest_of_its_lines_joined_by_newlines() -> None:
    """The digest in a batch's ClickHouse token: a batch left pending by an older worker
    is retried with the same token, so ClickHouse still drops the copy."""
    lines = [b'{"a": 1}', b'{"b": 2}', b'{"c": 3}']
    for batch in (lines, lines[:1], []):
        assert _digest(batch) == hashlib.sha256(b"\n".join(batch)).hexdigest()[:32]
