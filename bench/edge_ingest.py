"""Spans per second one edge process accepts: OTLP protobuf batches of 100 GenAI spans
of about 2 KB each, sent by concurrent agents, every span fsynced into the spool.

    .venv/bin/python bench/edge_ingest.py [--seconds 10] [--agents 8] [--runs 5]

Each run starts a fresh edge (an empty spool) and measures for ``--seconds``; the
report is the median of the runs (bench/harness.py), with the edge's CPU per span.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import psutil
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import harness  # noqa: E402

from edge.process import free_port  # noqa: E402
from tests.edge.conftest import (  # noqa: E402
    AGENT_HEADERS,
    NODE_HEADERS,
    NODE_TOKEN,
    config_doc,
)

SPANS_PER_REQUEST = 100


def _kv(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def batch(request_number: int) -> bytes:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(_kv("service.name", "support-bot"))
    spans = resource_spans.scope_spans.add().spans
    prompt = '[{"role": "user", "content": "' + "please summarise the ticket " * 40 + '"}]'
    answer = '[{"role": "assistant", "content": "' + "the customer asks " * 20 + '"}]'
    for number in range(1, SPANS_PER_REQUEST + 1):
        spans.append(
            Span(
                trace_id=request_number.to_bytes(16, "big"),
                span_id=number.to_bytes(8, "big"),
                parent_span_id=b"\x00" * 7 + b"\x01" if number > 1 else b"",
                name="chat gpt-4o",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=time.time_ns(),
                end_time_unix_nano=time.time_ns() + 500_000_000,
                attributes=[
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", "openai"),
                    _kv("gen_ai.request.model", "gpt-4o"),
                    _kv("gen_ai.response.model", "gpt-4o-2024-08-06"),
                    _kv("gen_ai.usage.input_tokens", 812),
                    _kv("gen_ai.usage.output_tokens", 120),
                    _kv("gen_ai.input.messages", prompt),
                    _kv("gen_ai.output.messages", answer),
                    _kv("server.address", "api.openai.com"),
                    _kv("server.port", 443),
                ],
            )
        )
    return request.SerializeToString()


def measure(args: argparse.Namespace, bodies: list[bytes]) -> harness.Figures:
    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        env = {
            **os.environ,
            "EDGE_PORT": str(port),
            "EDGE_DATA_DIR": data_dir,
            "EDGE_NODE_TOKEN_SHA256": hashlib.sha256(NODE_TOKEN.encode()).hexdigest(),
        }
        edge = subprocess.Popen([sys.executable, "-m", "edge"], cwd=REPO, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    httpx.put(f"{url}/v1/config", json=config_doc(), headers=NODE_HEADERS)
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            accepted = [0] * args.agents
            refused = [0] * args.agents
            stop = time.monotonic() + args.seconds

            def agent(index: int) -> None:
                headers = {**AGENT_HEADERS, "Content-Type": "application/x-protobuf"}
                with httpx.Client(base_url=url, timeout=30) as client:
                    n = index
                    while time.monotonic() < stop:
                        body = bodies[n % len(bodies)]
                        n += args.agents
                        if client.post("/v1/traces", content=body, headers=headers).is_success:
                            accepted[index] += SPANS_PER_REQUEST
                        else:
                            refused[index] += 1

            edge_cpu = psutil.Process(edge.pid)
            cpu_before = sum(edge_cpu.cpu_times()[:2])
            started = time.monotonic()
            threads = [threading.Thread(target=agent, args=(i,)) for i in range(args.agents)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.monotonic() - started
            cpu_seconds = sum(edge_cpu.cpu_times()[:2]) - cpu_before
        finally:
            edge.terminate()
            edge.wait()
    spans = sum(accepted)
    return {
        "spans_per_s": spans / elapsed,
        "edge_cpu_us_per_span": cpu_seconds * 1e6 / max(spans, 1),
        "edge_cpu_pct_of_core": 100 * cpu_seconds / elapsed,
        "refused_requests": float(sum(refused)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--agents", type=int, default=8)
    harness.add_arguments(parser)
    args = parser.parse_args()

    bodies = [batch(n) for n in range(1, 33)]
    context = harness.start()
    runs = harness.repeat(lambda _run: measure(args, bodies), runs=args.runs)
    context.notes.append(
        f"{args.agents} agents, {args.seconds:g} s per run; a request is {SPANS_PER_REQUEST} "
        f"spans, {len(bodies[0]):,} bytes of protobuf, fsynced into the spool before the answer."
    )
    harness.report("Edge spool ingest", runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()
