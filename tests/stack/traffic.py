"""Agent traffic for the stack: spans through the OpenTelemetry SDK's OTLP/HTTP exporter,
model calls through the openai SDK, each retried until the edge accepts it, with what
each store must then hold."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import httpx
import openai
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from edge.otlp import event_id


@dataclass
class Call:
    """One logical model call: its trace id, the attempts it took, and whether the first
    attempt was answered (then the edge recorded exactly one event for it)."""

    trace_id: str
    attempts: int = 0
    first_attempt_answered: bool = False


@dataclass
class Traffic:
    tenant_id: str
    headers: dict[str, str]
    span_ids: set[str] = field(default_factory=set)
    calls: list[Call] = field(default_factory=list)
    export_failures: int = 0

    def __post_init__(self) -> None:
        self._memory = InMemorySpanExporter()
        provider = TracerProvider(resource=Resource.create({"service.name": "stack-agent"}))
        provider.add_span_processor(SimpleSpanProcessor(self._memory))
        self._tracer = provider.get_tracer("tests.stack")

    def spans(self, count: int) -> Sequence[ReadableSpan]:
        """``count`` finished GenAI spans, one trace each, as an instrumented agent makes."""
        for number in range(count):
            with self._tracer.start_as_current_span(
                "chat gpt-4o-mini",
                attributes={
                    "gen_ai.operation.name": "chat",
                    "gen_ai.system": "openai",
                    "gen_ai.request.model": "gpt-4o-mini",
                    "gen_ai.usage.input_tokens": 20 + number % 7,
                    "gen_ai.usage.output_tokens": 5 + number % 3,
                },
            ):
                pass
        finished = self._memory.get_finished_spans()
        self._memory.clear()
        return finished

    def export(self, edge_url: str, count: int, *, deadline: float = 60) -> None:
        """Export ``count`` spans, again and again until the edge says it has them."""
        batch = self.spans(count)
        exporter = OTLPSpanExporter(
            endpoint=f"{edge_url}/v1/traces", headers=self.headers, timeout=3
        )
        give_up = time.monotonic() + deadline
        try:
            while exporter.export(batch) is not SpanExportResult.SUCCESS:
                self.export_failures += 1
                assert time.monotonic() < give_up, "the edge never accepted the spans"
                time.sleep(0.2)
        finally:
            exporter.shutdown()
        for span in batch:
            context = span.get_span_context()
            assert context is not None
            self.span_ids.add(
                event_id(self.tenant_id, f"{context.trace_id:032x}", f"{context.span_id:016x}")
            )

    def client(self, edge_url: str) -> openai.OpenAI:
        return openai.OpenAI(
            base_url=f"{edge_url}/v1",
            api_key=self.headers["Authorization"].removeprefix("Bearer "),
            default_headers={k: v for k, v in self.headers.items() if k != "Authorization"},
            max_retries=0,
            timeout=10,
        )

    def chat(
        self,
        edge_url: str,
        *,
        stream: bool = False,
        deadline: float = 60,
        interrupt: Callable[[], None] | None = None,
    ) -> Call:
        """One model call, retried (same traceparent) until it is answered. With
        ``interrupt``, the first attempt streams, and ``interrupt`` runs once the first
        chunk has arrived (the test kills the edge there)."""
        call = Call(trace_id=uuid.uuid4().hex)
        self.calls.append(call)
        give_up = time.monotonic() + deadline
        if interrupt is not None:
            call.attempts += 1
            with self.client(edge_url) as client:
                chunks = client.chat.completions.create(
                    model="gpt-4o-mini",
                    messages=[{"role": "user", "content": "A long answer, please."}],
                    max_tokens=200,
                    stream=True,
                    extra_headers=self._traceparent(call),
                )
                next(iter(chunks))
                interrupt()
                with contextlib.suppress(openai.APIError, httpx.HTTPError):
                    list(chunks)
        while True:
            call.attempts += 1
            try:
                self._chat_once(edge_url, call, stream=stream)
            except openai.APIConnectionError:
                assert time.monotonic() < give_up, "the edge never answered the call"
                time.sleep(0.2)
                continue
            call.first_attempt_answered = call.attempts == 1
            return call

    @staticmethod
    def _traceparent(call: Call) -> dict[str, str]:
        return {"traceparent": f"00-{call.trace_id}-{uuid.uuid4().hex[:16]}-01"}

    def _chat_once(self, edge_url: str, call: Call, *, stream: bool) -> None:
        traceparent = self._traceparent(call)
        question = [{"role": "user", "content": f"Plan step {len(self.calls)}."}]
        with self.client(edge_url) as client:
            if not stream:
                reply = client.chat.completions.create(
                    model="gpt-4o-mini", messages=question, max_tokens=30, extra_headers=traceparent
                )
                assert reply.usage is not None
                return
            chunks = client.chat.completions.create(
                model="gpt-4o-mini",
                messages=question,
                max_tokens=30,
                stream=True,
                stream_options={"include_usage": True},
                extra_headers=traceparent,
            )
            assert [chunk for chunk in chunks if chunk.usage is not None]
