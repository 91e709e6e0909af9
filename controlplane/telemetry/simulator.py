"""Realistic agent traffic as OpenTelemetry traces, for the demo, tests and benchmarks.

Each interaction is a trace: an ``invoke_agent`` root span, one to three model calls
(GenAI semantic conventions, token usage, request and response bodies with the agent's
long system prompt and tool schemas, as real agents send them) and tool calls between
them. Some calls fail or time out; volume follows a working-day rhythm.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import (
    AnyValue,
    ArrayValue,
    InstrumentationScope,
    KeyValue,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

MODELS = (
    ("openai", "gpt-4o-mini", 0.55),
    ("openai", "gpt-4o", 0.15),
    ("anthropic", "claude-3-5-haiku", 0.2),
    ("anthropic", "claude-sonnet-4", 0.1),
)
TOOLS_BY_ROLE = {
    "marketing": ("crm.search_contacts", "web.search", "docs.write_draft"),
    "finance": ("ledger.query", "invoices.lookup", "fx.rates"),
    "support": ("tickets.search", "kb.search", "tickets.reply"),
    "engineering": ("github.search_code", "ci.status", "docs.search"),
    "hr": ("hris.lookup_employee", "calendar.find_slot", "docs.search"),
}
# Tools that reach a system outside the customer's site (the data-flow diagram draws
# them as external systems); the others run at the site.
TOOL_HOSTS = {
    "crm.search_contacts": "api.hubspot.example",
    "web.search": "api.search.example",
    "fx.rates": "api.exchangerates.example",
    "github.search_code": "api.github.com",
    "calendar.find_slot": "graph.microsoft.com",
}
DATA_CLASSES_BY_ROLE = {
    "marketing": ("public", "pii"),
    "finance": ("finance", "pii"),
    "support": ("pii",),
    "engineering": ("source_code",),
    "hr": ("pii", "hr"),
}
QUESTIONS = (
    "Summarise the open items for this week and propose next steps.",
    "Find the customers who asked about pricing in the last month.",
    "Draft a reply to the latest escalated ticket, polite and specific.",
    "Which invoices are overdue by more than 30 days, and by how much?",
    "Check whether the deployment pipeline is green and list failing jobs.",
    "Prepare a short brief on the competitor announcement from yesterday.",
)


@dataclass(frozen=True)
class SimulatedAgent:
    name: str
    role: str
    headers: dict[str, str]
    endpoint: str
    system_prompt: str = field(default="", compare=False)


def system_prompt_for(name: str, role: str) -> str:
    tools = [
        {
            "type": "function",
            "function": {
                "name": tool,
                "description": f"{tool.replace('.', ' ').replace('_', ' ')} for the {role} team",
                "parameters": {
                    "type": "object",
                    "properties": {"query": {"type": "string"}, "limit": {"type": "integer"}},
                    "required": ["query"],
                },
            },
        }
        for tool in TOOLS_BY_ROLE.get(role, TOOLS_BY_ROLE["support"])
    ]
    return (
        f"You are {name}, an assistant of the {role} department. Follow the company policy: "
        "never reveal personal data to people without a need to know, cite your sources, "
        "ask before taking an irreversible action, and keep answers short and factual. "
        "Escalate to a human when unsure. Available tools follow as JSON schemas.\n"
        + json.dumps(tools, indent=2)
    )


def _kv(key: str, value: str | int | float | list[str]) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    if isinstance(value, list):
        return KeyValue(
            key=key,
            value=AnyValue(
                array_value=ArrayValue(values=[AnyValue(string_value=v) for v in value])
            ),
        )
    return KeyValue(key=key, value=AnyValue(string_value=value))


def daily_rhythm(hour_utc: float) -> float:
    """Relative activity: low at night, peaks late morning and mid afternoon."""
    return 0.15 + 0.85 * max(0.0, math.sin(math.pi * (hour_utc - 6) / 13)) ** 1.5


class TraceFactory:
    def __init__(
        self,
        rng: random.Random | None = None,
        *,
        error_rate: float = 0.04,
        timeout_rate: float = 0.015,
    ) -> None:
        self.rng = rng or random.Random()
        self.error_rate = error_rate
        self.timeout_rate = timeout_rate

    def _pick_model(self) -> tuple[str, str]:
        roll, total = self.rng.random(), 0.0
        for provider, model, weight in MODELS:
            total += weight
            if roll <= total:
                return provider, model
        return MODELS[0][0], MODELS[0][1]

    def trace(self, agent: SimulatedAgent, start_ns: int) -> list[Span]:
        rng = self.rng
        trace_id = secrets.token_bytes(16)
        root_id = secrets.token_bytes(8)
        spans: list[Span] = []
        clock = start_ns + rng.randint(1, 5) * 1_000_000
        question = rng.choice(QUESTIONS)
        messages = [
            {"role": "system", "content": agent.system_prompt},
            {"role": "user", "content": question},
        ]
        provider, model = self._pick_model()
        tools = TOOLS_BY_ROLE.get(agent.role, TOOLS_BY_ROLE["support"])
        classes = list(DATA_CLASSES_BY_ROLE.get(agent.role, ("public",)))
        for step in range(rng.randint(1, 3)):
            duration = int(rng.lognormvariate(6.3, 0.6) * 1_000_000)  # ~550 ms median
            input_tokens = len(json.dumps(messages)) // 4
            output_tokens = rng.randint(40, 600)
            failure = rng.random()
            status = "ok"
            if failure < self.timeout_rate:
                status, duration = "timeout", 30_000_000_000
            elif failure < self.timeout_rate + self.error_rate:
                status = "error"
            answer = (
                f"Step {step + 1}: based on the {agent.role} records, here is what I found. "
                + " ".join(rng.choice(question.split()) for _ in range(output_tokens // 3))
            )
            span = Span(
                trace_id=trace_id,
                span_id=secrets.token_bytes(8),
                parent_span_id=root_id,
                name=f"chat {model}",
                kind=Span.SPAN_KIND_CLIENT,
                start_time_unix_nano=clock,
                end_time_unix_nano=clock + duration,
                attributes=[
                    _kv("gen_ai.operation.name", "chat"),
                    _kv("gen_ai.provider.name", provider),
                    _kv("gen_ai.request.model", model),
                    _kv("gen_ai.response.model", model),
                    _kv("gen_ai.input.messages", json.dumps(messages)),
                    _kv("acp.data_classes", classes),
                ],
            )
            if status == "ok":
                span.attributes.extend(
                    [
                        _kv("gen_ai.usage.input_tokens", input_tokens),
                        _kv("gen_ai.usage.output_tokens", output_tokens),
                        _kv(
                            "gen_ai.output.messages",
                            json.dumps([{"role": "assistant", "content": answer}]),
                        ),
                    ]
                )
            else:
                span.status.CopyFrom(
                    Status(
                        code=Status.STATUS_CODE_ERROR,
                        message="request timed out"
                        if status == "timeout"
                        else "rate limited (429)",
                    )
                )
                span.attributes.append(
                    _kv("error.type", "timeout" if status == "timeout" else "429")
                )
            spans.append(span)
            clock += duration + rng.randint(1, 20) * 1_000_000
            if status != "ok":
                break
            tool = rng.choice(tools)
            tool_duration = int(rng.lognormvariate(4.5, 0.8) * 1_000_000)
            tool_failed = rng.random() < self.error_rate
            tool_span = Span(
                trace_id=trace_id,
                span_id=secrets.token_bytes(8),
                parent_span_id=root_id,
                name=f"execute_tool {tool}",
                kind=Span.SPAN_KIND_INTERNAL,
                start_time_unix_nano=clock,
                end_time_unix_nano=clock + tool_duration,
                attributes=[
                    _kv("gen_ai.operation.name", "execute_tool"),
                    _kv("gen_ai.tool.name", tool),
                    _kv("gen_ai.tool.call.id", secrets.token_hex(6)),
                    *([_kv("server.address", TOOL_HOSTS[tool])] if tool in TOOL_HOSTS else []),
                ],
            )
            if tool_failed:
                tool_span.status.CopyFrom(
                    Status(code=Status.STATUS_CODE_ERROR, message="tool returned 500")
                )
            spans.append(tool_span)
            clock += tool_duration
            messages.append({"role": "assistant", "content": answer[:400]})
            messages.append(
                {
                    "role": "tool",
                    "content": json.dumps(
                        {"tool": tool, "results": [{"id": rng.randint(1, 9999)}]}
                    ),
                }
            )
        root = Span(
            trace_id=trace_id,
            span_id=root_id,
            name=f"invoke_agent {agent.name}",
            kind=Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start_ns,
            end_time_unix_nano=clock + 1_000_000,
            attributes=[
                _kv("gen_ai.operation.name", "invoke_agent"),
                _kv("gen_ai.agent.name", agent.name),
            ],
        )
        if any(s.status.code == Status.STATUS_CODE_ERROR for s in spans):
            root.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="step failed"))
        return [root, *spans]

    def request(
        self, agent: SimulatedAgent, traces: int, *, now_ns: int | None = None
    ) -> ExportTraceServiceRequest:
        """One OTLP export with ``traces`` interactions of ``agent``."""
        base = now_ns or time.time_ns()
        spans: list[Span] = []
        for index in range(traces):
            spans += self.trace(agent, base - (traces - index) * 2_000_000_000)
        return ExportTraceServiceRequest(
            resource_spans=[
                ResourceSpans(
                    resource=Resource(attributes=[_kv("service.name", agent.name)]),
                    scope_spans=[
                        ScopeSpans(scope=InstrumentationScope(name="acp.simulator"), spans=spans)
                    ],
                )
            ]
        )


def schedule(
    agents: list[SimulatedAgent], *, rate: float, rng: random.Random
) -> Iterator[SimulatedAgent]:
    """Agents in the order they send, ``rate`` traces per second on average, shaped by
    the time of day."""
    while True:
        hour = (time.time() / 3600) % 24
        yield rng.choice(agents)
        time.sleep(rng.expovariate(max(rate * daily_rhythm(hour), 0.01)))


TIER_BY_ROLE = {
    "marketing": "simple",
    "finance": "complex",
    "support": "simple",
    "engineering": "standard",
    "hr": "standard",
}


def gateway_chat_request(
    agent: SimulatedAgent, rng: random.Random, *, stray_rate: float = 0.05
) -> dict[str, object]:
    """An OpenAI chat completion as the agent would send it through the edge gateway.

    Now and then an agent offers a tool outside its role (a marketing agent with the
    finance ledger): the gateway's policy stage must refuse it.
    """
    tools = list(TOOLS_BY_ROLE.get(agent.role, TOOLS_BY_ROLE["support"]))
    if rng.random() < stray_rate:
        stray_role = rng.choice([role for role in TOOLS_BY_ROLE if role != agent.role])
        tools.append(rng.choice(TOOLS_BY_ROLE[stray_role]))
    return {
        "model": f"acp/{TIER_BY_ROLE.get(agent.role, 'standard')}",
        "max_tokens": 400,
        "messages": [
            {"role": "system", "content": agent.system_prompt},
            {"role": "user", "content": rng.choice(QUESTIONS)},
        ],
        "tools": [
            {"type": "function", "function": {"name": tool, "parameters": {"type": "object"}}}
            for tool in tools
        ],
    }
