"""Spans for the web tests: spool records as the edge writes them (docs/edge-protocol.md),
turned into ledger and ClickHouse rows the way the pull worker does."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from typing import Any

import orjson

from billing.models import ModelPrice
from billing.pricing import PriceBook
from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from tests.web.conftest import Fleet

NAMESPACE = uuid.UUID("6f1e2c3a-9d1b-4b7e-8f3a-2c5d7e9a1b40")
PRICES = PriceBook(
    [
        ModelPrice(
            provider="openai",
            model="gpt-4o-mini",
            input_per_million=Decimal("0.15"),
            output_per_million=Decimal("0.60"),
            effective_from=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        )
    ]
)


def _nanos(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def span(
    fleet: Fleet,
    *,
    trace_id: str,
    span_id: str,
    start: dt.datetime,
    duration: dt.timedelta = dt.timedelta(milliseconds=500),
    parent_span_id: str = "",
    **fields: Any,
) -> bytes:
    """One spool record of ``fleet``'s agent; ``fields`` override the defaults."""
    tenant_id = str(fleet.agent.tenant_id)
    record: dict[str, Any] = {
        "v": 1,
        "event_id": str(uuid.uuid5(NAMESPACE, f"{tenant_id}/{trace_id}/{span_id}")),
        "tenant_id": tenant_id,
        "agent_id": str(fleet.agent.pk),
        "department_id": None,
        "device_id": str(fleet.device.pk),
        "site_id": str(fleet.site.pk),
        "edge_node_id": str(fleet.node.pk),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": "agent run",
        "kind": "step",
        "start_time_unix_nano": _nanos(start),
        "end_time_unix_nano": _nanos(start + duration),
        "status": "ok",
        "status_message": "",
        "provider": "",
        "model": "",
        "tool": "",
        "input_tokens": 0,
        "output_tokens": 0,
        "data_classes": [],
        "request_body": "",
        "response_body": "",
        "attributes": {},
        "received_at_unix_nano": _nanos(start + duration),
    }
    record.update(fields)
    return orjson.dumps(record)


def ingest(lines: list[bytes], *, ledger: bool = True, spans: bool = True) -> None:
    """Write ``lines`` to the ledger and to ClickHouse."""
    batch = build_batch(lines, prices=PRICES, retention_days={})
    if ledger:
        with all_tenants_context():
            ledger_insert(batch.ledger)
    if spans:
        from controlplane.telemetry.spans import spans_insert

        spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))
