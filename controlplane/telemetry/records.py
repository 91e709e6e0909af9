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


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _time(nanos: int) -> dt.datetime:
    """UTC time of a Unix nanosecond timestamp, truncated to microseconds."""
    try:
        return _EPOCH + dt.timedelta(microseconds=int(nanos) // 1000)
    except OverflowError as exc:  # out of datetime's range, as fromtimestamp() says
        raise ValueError(f"timestamp out of range: {nanos}") from exc


@dataclass
class Batch:
    """The rows of one pulled batch: ledger rows in LEDGER_COLUMNS order (ids as their
    16 bytes), ClickHouse columns by name (ids as text)."""

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
ZERO_UUID_TEXT = str(ZERO_UUID)


def build_batch(
    lines: list[bytes], *, prices: PriceBook, retention_days: dict[uuid.UUID, int]
) -> Batch:
    """Rows for the ledger (narrow) and ClickHouse (everything), from spool lines.

    Ledger rows hold ids as their 16 bytes (what ledger_insert's binary COPY sends);
    the ClickHouse columns hold their canonical text (what ``spans_insert`` sends),
    with the zero UUID for no department or site.

    The hot path of ingestion (bench/ingest_pipeline.py): one pass, columns appended
    through bound methods, and the ids that repeat in a batch (tenant, agent, device,
    site, node, department) parsed once per batch.
    """
    batch = Batch(spans={name: [] for name in SPAN_COLUMNS})
    spans = batch.spans
    ledger_append = batch.ledger.append
    (
        tenant_ids,
        event_ids,
        trace_ids,
        span_ids,
        parent_span_ids,
        department_ids,
        agent_ids,
        site_ids,
        edge_node_ids,
        kinds,
        names,
        start_times,
        end_times,
        statuses,
        status_messages,
        providers,
        models,
        tools,
        input_tokens_column,
        output_tokens_column,
        costs,
        data_classes,
        attributes,
        request_bodies,
        response_bodies,
        content_hashes,
        retention_column,
    ) = (spans[name].append for name in SPAN_COLUMNS)
    ids: dict[str, tuple[bytes, str]] = {}

    def repeated_uuid(value: str) -> tuple[bytes, str]:
        """The id's 16 bytes and canonical text, parsed once per batch."""
        parsed = ids.get(value)
        if parsed is None:
            as_uuid = uuid.UUID(value)
            parsed = ids[value] = (as_uuid.bytes, str(as_uuid))
        return parsed

    def optional_uuid(value: Any) -> tuple[bytes | None, str]:
        return repeated_uuid(value) if value else (None, ZERO_UUID_TEXT)

    retention = {str(tenant): days for tenant, days in retention_days.items()}
    sha256 = hashlib.sha256
    dumps = orjson.dumps
    for line in lines:
        try:
            record = orjson.loads(line)
            event_id = uuid.UUID(record["event_id"])
            tenant_id, tenant_text = repeated_uuid(record["tenant_id"])
            agent_id, agent_text = repeated_uuid(record["agent_id"])
            edge_node_id, edge_node_text = repeated_uuid(record["edge_node_id"])
            start = _time(record["start_time_unix_nano"])
            end = _time(record["end_time_unix_nano"])
            input_tokens = max(int(record.get("input_tokens") or 0), 0)
            output_tokens = max(int(record.get("output_tokens") or 0), 0)
        except (KeyError, TypeError, ValueError, orjson.JSONDecodeError) as exc:
            raise RecordError(f"bad spool record: {exc}") from exc
        get = record.get
        department_id, department_text = optional_uuid(get("department_id"))
        provider = str(get("provider") or "")
        model = str(get("model") or "")
        cost = prices.cost(provider, model, start, input_tokens, output_tokens).quantize(
            COST_QUANTUM
        )
        content_hash = sha256(line).hexdigest()
        latency_ms = max((end - start).total_seconds() * 1000, 0.0)
        trace_id = str(get("trace_id") or "")[:32]
        span_id = str(get("span_id") or "")[:16]
        parent_span_id = str(get("parent_span_id") or "")[:16]
        kind = str(get("kind") or "step")[:10]
        name = str(get("name") or "")[:200]
        tool = str(get("tool") or "")[:200]
        status = str(get("status") or "ok")[:10]
        site_id, site_text = optional_uuid(get("site_id"))
        ledger_append(
            (
                event_id.bytes,
                start,
                tenant_id,
                department_id,
                agent_id,
                optional_uuid(get("device_id"))[0],
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
        tenant_ids(tenant_text)
        event_ids(str(event_id))
        trace_ids(trace_id)
        span_ids(span_id)
        parent_span_ids(parent_span_id)
        department_ids(department_text)
        agent_ids(agent_text)
        site_ids(site_text)
        edge_node_ids(edge_node_text)
        kinds(kind)
        names(name)
        start_times(start)
        end_times(end)
        statuses(status)
        status_messages(str(get("status_message") or ""))
        providers(provider)
        models(model)
        tools(tool)
        input_tokens_column(input_tokens)
        output_tokens_column(output_tokens)
        costs(cost)
        data_classes([str(c) for c in get("data_classes") or []])
        attributes(dumps(get("attributes") or {}).decode())
        request_bodies(str(get("request_body") or ""))
        response_bodies(str(get("response_body") or ""))
        content_hashes(content_hash)
        retention_column(retention.get(tenant_text, 395))
    return batch
