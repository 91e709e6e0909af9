"""Rows of the telemetry schema for the analytics tests."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

from controlplane.analytics.store import AnalyticsStore
from controlplane.telemetry.records import SPAN_COLUMNS

TENANT = uuid.UUID("11111111-1111-4111-8111-111111111111")
AGENT = uuid.UUID("22222222-2222-4222-8222-222222222222")
MINUTE = dt.datetime(2026, 3, 2, 10, 15, tzinfo=dt.UTC)


def span(**overrides: Any) -> dict[str, Any]:
    """One row of ``spans``: a successful model call in ``MINUTE``, unless overridden."""
    start = overrides.pop("start_time", MINUTE + dt.timedelta(seconds=5))
    values: dict[str, Any] = {
        "tenant_id": TENANT,
        "event_id": uuid.uuid4(),
        "trace_id": uuid.uuid4().hex,
        "span_id": uuid.uuid4().hex[:16],
        "parent_span_id": "",
        "department_id": uuid.UUID(int=0),
        "agent_id": AGENT,
        "site_id": uuid.UUID(int=3),
        "edge_node_id": uuid.UUID(int=4),
        "kind": "model",
        "name": "chat gpt-4o",
        "start_time": start,
        "end_time": start + dt.timedelta(milliseconds=250),
        "status": "ok",
        "status_message": "",
        "provider": "openai",
        "model": "gpt-4o",
        "tool": "",
        "input_tokens": 100,
        "output_tokens": 20,
        "cached_input_tokens": 0,
        "cache_write_tokens": 0,
        "reasoning_tokens": 0,
        "cost": Decimal("0.001250000"),
        "data_classes": ["pii"],
        "attributes": '{"gen_ai.operation.name": "chat"}',
        "request_body": '{"messages": [{"role": "user", "content": "hi"}]}',
        "response_body": '{"choices": [{"message": {"content": "hello"}}]}',
        "content_hash": "ab" * 32,
        "retention_days": 395,
    }
    values.update(overrides)
    return values


def insert_spans(
    store: AnalyticsStore, spans: list[dict[str, Any]], token: str | None = None
) -> None:
    rows = [[item[name] for name in SPAN_COLUMNS] for item in spans]
    store.insert("spans", rows, SPAN_COLUMNS, dedup_token=token)
