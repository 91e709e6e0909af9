"""Edge spool records (docs/edge-protocol.md) turned into rows for both stores."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import orjson

from billing.pricing import PriceBook

NANOS = 1_000_000_000
COST_QUANTUM = Decimal("0.000000001")


class RecordError(ValueError):
    """A spool record that does not follow the protocol."""


def _time(nanos: int) -> dt.datetime:
    seconds, rest = divmod(int(nanos), NANOS)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(microsecond=rest // 1000)


def _uuid(value: Any) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


@dataclass
class Batch:
    """The rows of one pulled batch, column by column."""

    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    spans: dict[str, list[Any]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ledger)


LEDGER_COLUMNS = (
    "event_id",
    "occurred_at",
    "tenant_id",
    "department_id",
    "agent_id",
    "device_id",
    "site_id",
    "edge_node_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "name",
    "provider",
    "model",
    "tool",
    "input_tokens",
    "output_tokens",
    "cost",
    "status",
    "latency_ms",
    "content_hash",
)
SPAN_COLUMNS = (
    "tenant_id",
    "event_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "department_id",
    "agent_id",
    "site_id",
    "edge_node_id",
    "kind",
    "name",
    "start_time",
    "end_time",
    "status",
    "status_message",
    "provider",
    "model",
    "tool",
    "input_tokens",
    "output_tokens",
    "cost",
    "data_classes",
    "attributes",
    "request_body",
    "response_body",
    "content_hash",
    "retention_days",
)
ZERO_UUID = uuid.UUID(int=0)


def build_batch(
    lines: list[bytes], *, prices: PriceBook, retention_days: dict[uuid.UUID, int]
) -> Batch:
    """Rows for the ledger (narrow) and ClickHouse (everything), from spool lines."""
    batch = Batch(spans={name: [] for name in SPAN_COLUMNS})
    spans = batch.spans
    for line in lines:
        try:
            record = orjson.loads(line)
            event_id = uuid.UUID(record["event_id"])
            tenant_id = uuid.UUID(record["tenant_id"])
            agent_id = uuid.UUID(record["agent_id"])
            edge_node_id = uuid.UUID(record["edge_node_id"])
            start = _time(record["start_time_unix_nano"])
            end = _time(record["end_time_unix_nano"])
            input_tokens = max(int(record.get("input_tokens") or 0), 0)
            output_tokens = max(int(record.get("output_tokens") or 0), 0)
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            raise RecordError(f"bad spool record: {exc}") from exc
        department_id = _uuid(record.get("department_id"))
        provider = str(record.get("provider") or "")
        model = str(record.get("model") or "")
        cost = prices.cost(provider, model, start, input_tokens, output_tokens).quantize(
            COST_QUANTUM
        )
        content_hash = hashlib.sha256(line).hexdigest()
        latency_ms = max((end - start).total_seconds() * 1000, 0.0)
        trace_id = str(record.get("trace_id") or "")[:32]
        span_id = str(record.get("span_id") or "")[:16]
        parent_span_id = str(record.get("parent_span_id") or "")[:16]
        kind = str(record.get("kind") or "step")[:10]
        name = str(record.get("name") or "")[:200]
        tool = str(record.get("tool") or "")[:200]
        status = str(record.get("status") or "ok")[:10]
        site_id = _uuid(record.get("site_id"))
        batch.ledger.append(
            (
                event_id,
                start,
                tenant_id,
                department_id,
                agent_id,
                _uuid(record.get("device_id")),
                site_id,
                edge_node_id,
                trace_id,
                span_id,
                parent_span_id,
                kind,
                name,
                provider[:100],
                model[:200],
                tool,
                input_tokens,
                output_tokens,
                cost,
                status,
                latency_ms,
                content_hash,
            )
        )
        for column, value in (
            ("tenant_id", tenant_id),
            ("event_id", event_id),
            ("trace_id", trace_id),
            ("span_id", span_id),
            ("parent_span_id", parent_span_id),
            ("department_id", department_id or ZERO_UUID),
            ("agent_id", agent_id),
            ("site_id", site_id or ZERO_UUID),
            ("edge_node_id", edge_node_id),
            ("kind", kind),
            ("name", name),
            ("start_time", start),
            ("end_time", end),
            ("status", status),
            ("status_message", str(record.get("status_message") or "")),
            ("provider", provider),
            ("model", model),
            ("tool", tool),
            ("input_tokens", input_tokens),
            ("output_tokens", output_tokens),
            ("cost", cost),
            ("data_classes", [str(c) for c in record.get("data_classes") or []]),
            ("attributes", orjson.dumps(record.get("attributes") or {}).decode()),
            ("request_body", str(record.get("request_body") or "")),
            ("response_body", str(record.get("response_body") or "")),
            ("content_hash", content_hash),
            ("retention_days", retention_days.get(tenant_id, 395)),
        ):
            spans[column].append(value)
    return batch
