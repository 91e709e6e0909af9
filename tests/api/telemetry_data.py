"""Model calls written to both stores as the pull worker would: the PostgreSQL ledger
(``ledger_insert``) and ClickHouse (``spans_insert``), from edge spool records."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from billing.pricing import PriceBook
from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.spans import spans_insert


@dataclass(frozen=True)
class Call:
    when: dt.datetime
    trace_id: str
    span: int = 1
    provider: str = "openai"
    model: str = "gpt-4.1-mini"
    input_tokens: int = 1000
    output_tokens: int = 200
    status: str = "ok"
    parent: str = ""
    name: str = "chat"


def record_calls(
    *,
    tenant_id: uuid.UUID,
    agent_id: uuid.UUID,
    department_id: uuid.UUID | None,
    calls: list[Call],
    **fields: Any,
) -> None:
    lines = []
    for call in calls:
        start = int(call.when.timestamp() * 1_000_000_000)
        lines.append(
            orjson.dumps(
                {
                    "v": 1,
                    "event_id": str(uuid.uuid4()),
                    "tenant_id": str(tenant_id),
                    "agent_id": str(agent_id),
                    "department_id": str(department_id) if department_id else None,
                    "edge_node_id": str(uuid.UUID(int=10)),
                    "trace_id": call.trace_id,
                    "span_id": f"{call.span:016x}",
                    "parent_span_id": call.parent,
                    "name": call.name,
                    "kind": "llm",
                    "start_time_unix_nano": start,
                    "end_time_unix_nano": start + 250_000_000,
                    "status": call.status,
                    "provider": call.provider,
                    "model": call.model,
                    "input_tokens": call.input_tokens,
                    "output_tokens": call.output_tokens,
                    "request_body": '{"messages": []}',
                    "response_body": '{"choices": []}',
                    "attributes": {"gen_ai.request.temperature": 0.2},
                    **fields,
                }
            )
        )
    with all_tenants_context():
        batch = build_batch(lines, prices=PriceBook.load(), retention_days={})
        ledger_insert(batch.ledger)
    spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))
