"""Spool records as an edge node writes them (docs/edge-protocol.md), for tests."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson

from tenants.models import Tenant

NAMESPACE = uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40")


def spool_line(
    tenant: Tenant,
    *,
    when: dt.datetime,
    trace: int,
    span: int,
    input_tokens: int = 100,
    output_tokens: int = 20,
    **fields: Any,
) -> bytes:
    trace_id, span_id = f"{trace:032x}", f"{span:016x}"
    start = int(when.timestamp() * 1_000_000_000)
    record = {
        "v": 1,
        "event_id": str(uuid.uuid5(NAMESPACE, f"{tenant.pk}/{trace_id}/{span_id}")),
        "tenant_id": str(tenant.pk),
        "agent_id": str(uuid.UUID(int=7)),
        "department_id": None,
        "device_id": str(uuid.UUID(int=8)),
        "site_id": str(uuid.UUID(int=9)),
        "edge_node_id": str(uuid.UUID(int=10)),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": "",
        "name": "chat",
        "kind": "model",
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 250_000_000,
        "status": "ok",
        "status_message": "",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "operation": "chat",
        "tool": "",
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "data_classes": [],
        "request_body": "hi",
        "response_body": "hello",
        "attributes": {},
        "resource": {},
        "received_at_unix_nano": start + 300_000_000,
    }
    record.update(fields)
    return orjson.dumps(record)
