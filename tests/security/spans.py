"""Spans of one agent straight into ClickHouse ``spans`` (the security rollups fill from
it): its history, so it is past its learning period, and an export of sensitive rows
that the scope detector raises as a critical alert. Used by tests and bench/."""

from __future__ import annotations

import datetime as dt
import secrets
import uuid

from controlplane.security.scenario_spans import SpanRow, span_columns
from controlplane.telemetry.spans import spans_insert


def tool_call(at: dt.datetime, tool: str, classification: str = "public", rows: int = 1) -> SpanRow:
    return SpanRow(
        agent="agent",
        start=at,
        duration_ms=120,
        trace=secrets.token_hex(16),
        span=secrets.token_hex(8),
        parent="",
        kind="tool",
        name=f"tool {tool}",
        status="ok",
        tool=tool,
        attributes={"db.response.returned_rows": rows, "data.classification": classification},
        classes=[classification],
    )


def insert(
    *,
    tenant_id: uuid.UUID,
    site_id: uuid.UUID,
    node_id: uuid.UUID,
    agent_id: uuid.UUID,
    rows: list[SpanRow],
) -> None:
    columns = span_columns(
        rows,
        tenant_id=tenant_id,
        agent_ids={row.agent: agent_id for row in rows},
        site_id=site_id,
        edge_node_id=node_id,
    )
    spans_insert(columns, dedup_token=f"test:{uuid.uuid4()}")


def model_call(at: dt.datetime, input_tokens: int = 900, output_tokens: int = 200) -> SpanRow:
    return SpanRow(
        agent="agent",
        start=at,
        duration_ms=800,
        trace=secrets.token_hex(16),
        span=secrets.token_hex(8),
        parent="",
        kind="llm",
        name="chat gpt-4o-mini",
        status="ok",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def history(now: dt.datetime, days: int = 20) -> list[SpanRow]:
    """A model call and a public knowledge-base search a day for ``days`` days before
    ``now``."""
    rows = []
    for day in range(1, days + 1):
        at = now - dt.timedelta(days=day)
        rows.append(tool_call(at, "kb.search", "public", 3))
        rows.append(model_call(at))
    return rows


def health_export(at: dt.datetime) -> list[SpanRow]:
    """5,000 rows of health data in one call: critical for an agent that never read any."""
    return [tool_call(at, "claims.export", "health", 5000)]
