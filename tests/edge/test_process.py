"""A real ``python -m edge`` process: the OpenTelemetry SDK as the agent, and kill -9."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from .conftest import (
    AGENT,
    AGENT_HEADERS,
    NODE_HEADERS,
    PROTOBUF,
    TENANT,
    EdgeProcess,
    config_doc,
    make_span,
    protobuf_body,
    pulled_records,
    spool_stats,
)

pytestmark = pytest.mark.slow

NAMESPACE = uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40")


def configure(edge: EdgeProcess) -> None:
    with edge.client() as client:
        response = client.put("/v1/config", json=config_doc(), headers=NODE_HEADERS)
        assert response.status_code == 200, response.text


def record_agent_run() -> list[ReadableSpan]:
    """Spans of one agent run, as GenAI instrumentation would record them."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("support-bot")
    with tracer.start_as_current_span(
        "invoke_agent support-bot", attributes={"gen_ai.operation.name": "invoke_agent"}
    ):
        with tracer.start_as_current_span(
            "chat gpt-4o",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 812,
                "gen_ai.usage.output_tokens": 120,
                "gen_ai.input.messages": '[{"role": "user", "content": "where is order 7?"}]',
                "gen_ai.output.messages": '[{"role": "assistant", "content": "shipped"}]',
                "acp.data_classes": ["pii"],
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool lookup_order",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "lookup_order",
            },
        ):
            pass
        with tracer.start_as_current_span(
            "chat claude-sonnet",
            kind=SpanKind.CLIENT,
            attributes={"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic"},
        ) as failing:
            failing.set_attribute("error.type", "timeout")
            failing.set_status(Status(StatusCode.ERROR, "upstream did not answer"))
    provider.shutdown()
    return list(memory.get_finished_spans())


def test_the_opentelemetry_sdk_exports_to_a_running_edge(
    edge_process: Callable[..., EdgeProcess],
) -> None:
    edge = edge_process()
    configure(edge)
    spans = record_agent_run()
    endpoint = f"{edge.url}/v1/traces"

    wrong = OTLPSpanExporter(endpoint=endpoint, headers={**AGENT_HEADERS, "X-ACP-Device-Key": "x"})
    assert wrong.export(spans) == SpanExportResult.FAILURE
    exporter = OTLPSpanExporter(
        endpoint=endpoint, headers=AGENT_HEADERS, compression=Compression.Gzip
    )
    assert exporter.export(spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    wrong.shutdown()

    with edge.client() as client:
        records = {record["name"]: record for record in pulled_records(client)}
    assert set(records) == {
        "invoke_agent support-bot",
        "chat gpt-4o",
        "execute_tool lookup_order",
        "chat claude-sonnet",
    }
    by_name = {span.name: span for span in spans}
    for name, record in records.items():
        context = by_name[name].context
        trace_id, span_id = f"{context.trace_id:032x}", f"{context.span_id:016x}"
        assert (record["trace_id"], record["span_id"]) == (trace_id, span_id)
        assert record["event_id"] == str(uuid.uuid5(NAMESPACE, f"{TENANT}/{trace_id}/{span_id}"))
        assert (record["tenant_id"], record["agent_id"]) == (TENANT, AGENT)
        assert record["resource"]["service.name"] == "support-bot"

    root = records["invoke_agent support-bot"]
    assert (root["kind"], root["status"], root["parent_span_id"]) == ("step", "ok", "")
    chat = records["chat gpt-4o"]
    assert chat["parent_span_id"] == root["span_id"]
    assert (chat["kind"], chat["provider"], chat["model"], chat["operation"]) == (
        "model",
        "openai",
        "gpt-4o-2024-08-06",
        "chat",
    )
    assert (chat["input_tokens"], chat["output_tokens"], chat["status"]) == (812, 120, "ok")
    assert chat["request_body"] == '[{"role": "user", "content": "where is order 7?"}]'
    assert chat["response_body"] == '[{"role": "assistant", "content": "shipped"}]'
    assert chat["data_classes"] == ["pii"]
    tool = records["execute_tool lookup_order"]
    assert (tool["kind"], tool["tool"], tool["status"]) == ("tool", "lookup_order", "ok")
    failed = records["chat claude-sonnet"]
    assert (failed["kind"], failed["provider"], failed["status"]) == (
        "model",
        "anthropic",
        "timeout",
    )
    assert failed["status_message"] == "upstream did not answer"
    assert failed["attributes"]["error.type"] == "timeout"


SPANS_PER_REQUEST = 20


def _event_ids(request_id: int) -> set[str]:
    trace_id = f"{request_id:032x}"
    return {
        str(uuid.uuid5(NAMESPACE, f"{TENANT}/{trace_id}/{span:016x}"))
        for span in range(1, SPANS_PER_REQUEST + 1)
    }


def test_kill_9_loses_nothing_that_was_acknowledged(
    edge_process: Callable[..., EdgeProcess],
) -> None:
    edge = edge_process()
    configure(edge)
    answered: dict[int, bool] = {}
    lock = threading.Lock()

    def agent(worker: int) -> None:
        with httpx.Client(base_url=edge.url, timeout=5) as client:
            for n in range(1, 100_000):
                request_id = worker * 100_000 + n
                spans = [
                    make_span(span, {"gen_ai.usage.input_tokens": span}, trace=request_id)
                    for span in range(1, SPANS_PER_REQUEST + 1)
                ]
                try:
                    response = client.post(
                        "/v1/traces",
                        content=protobuf_body(spans),
                        headers={**AGENT_HEADERS, **PROTOBUF},
                    )
                except httpx.TransportError:
                    with lock:
                        answered[request_id] = False
                    return
                with lock:
                    answered[request_id] = response.status_code == 200

    agents = [threading.Thread(target=agent, args=(worker,)) for worker in range(1, 5)]
    for thread in agents:
        thread.start()
    deadline = time.monotonic() + 10
    while sum(answered.values()) < 60 and time.monotonic() < deadline:
        time.sleep(0.01)
    edge.kill()
    for thread in agents:
        thread.join(10)

    acknowledged = [request_id for request_id, ok in answered.items() if ok]
    assert len(acknowledged) >= 60

    restarted = edge_process(edge.data_dir)  # nothing re-sends the configuration
    with restarted.client() as client:
        stored = Counter(record["event_id"] for record in pulled_records(client))
        assert spool_stats(client)["records"] == sum(stored.values())
        again = client.post(
            "/v1/traces",
            content=protobuf_body([make_span(1, trace=1)]),
            headers={**AGENT_HEADERS, **PROTOBUF},
        )
        assert again.status_code == 200, "the last configuration still authenticates"

    assert max(stored.values()) == 1, "no record is stored twice"
    for request_id in acknowledged:
        assert _event_ids(request_id) <= stored.keys(), f"request {request_id} was lost"
    for request_id, ok in answered.items():
        if not ok:
            present = len(_event_ids(request_id) & stored.keys())
            assert present in (0, SPANS_PER_REQUEST), "a request is stored whole or not at all"
    assert sum(stored.values()) % SPANS_PER_REQUEST == 0
