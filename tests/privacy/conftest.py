"""A tenant with a running edge node whose agent sends spans through it (old ones too),
another tenant with data straight in both stores, and ways to count what each store
holds: what the retention and data-subject tests compare with what the runs recorded."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import unquote

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from billing.pricing import PriceBook
from compliance.privacy.clickhouse import TABLES
from controlplane.analytics import get_store
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.pull import pull_edge_node
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.spans import spans_insert
from tenants.models import Tenant
from tests.edge.conftest import key_values
from tests.telemetry.conftest import Site, site  # noqa: F401 (the fixture)
from tests.telemetry.records import spool_line

MODEL = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}


def nanos(moment: dt.datetime) -> int:
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def day(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)


@pytest.fixture
def configured(site: Site) -> Site:  # noqa: F811 (the fixture above)
    """The site with an agent whose key the edge knows (the first pull pushes it)."""
    env = site.issue_key("support-bot")
    site.agent_headers = {  # type: ignore[attr-defined]
        name: unquote(value)
        for name, value in (
            pair.split("=", 1) for pair in env["OTEL_EXPORTER_OTLP_HEADERS"].split(",")
        )
    }
    pull(site)
    return site


def otlp_span(
    number: int, when: dt.datetime, *, trace: int = 1, prompt: str = "hello", **attributes: Any
) -> Span:
    start = nanos(when) + number
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=number.to_bytes(8, "big"),
        name="chat",
        start_time_unix_nano=start,
        end_time_unix_nano=start + 250_000_000,
        attributes=key_values(
            {
                **MODEL,
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": 10,
                "gen_ai.usage.output_tokens": 2,
                "gen_ai.input.messages": prompt,
                "gen_ai.output.messages": "ok",
            }
            | attributes
        ),
    )


def send(site: Site, spans: list[Span]) -> None:  # noqa: F811
    """Spans from the site's agent to its edge node, over OTLP/HTTP."""
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    response = httpx.post(
        f"{site.edge.url}/v1/traces",
        content=request.SerializeToString(),
        headers={**site.agent_headers, "Content-Type": "application/x-protobuf"},  # type: ignore[attr-defined]
    )
    assert response.status_code == 200, response.text


def pull(site: Site) -> None:  # noqa: F811
    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None and result.error == "", result


def spooled(site: Site) -> list[dict[str, Any]]:  # noqa: F811
    """Every record still in the edge's spool (read without acknowledging)."""
    response = httpx.get(
        f"{site.edge.url}/v1/pull", params={"after": 0, "limit": 10000}, headers=site.node_headers()
    )
    assert response.status_code == 200
    return [orjson.loads(line) for line in response.content.splitlines()]


def direct(
    tenant: Tenant, moments: list[dt.datetime], *, first_trace: int = 1000, **fields: Any
) -> None:
    """Spans of ``tenant`` straight into both stores, as the pull worker writes them, a
    trace each."""
    lines = [
        spool_line(tenant, when=when, trace=first_trace + i, span=i + 1, **fields)
        for i, when in enumerate(moments)
    ]
    batch = build_batch(lines, prices=PriceBook([]), retention_days={})
    with all_tenants_context():
        ledger_insert(batch.ledger)
    spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))


def settle() -> None:
    """Merge what ClickHouse would merge on its own, so row counts hold still."""
    for table in TABLES:
        get_store().command(f"OPTIMIZE TABLE {table.name} FINAL")


def clickhouse_rows(tenant: Tenant, before: dt.datetime | None = None) -> dict[str, int]:
    """The tenant's rows in each table (those from before ``before``)."""
    counts = {}
    for table in TABLES:
        condition = f" AND {table.time} < {{before:DateTime64(6, 'UTC')}}" if before else ""
        params: dict[str, Any] = {"tenant_id": tenant.pk}
        if before:
            params["before"] = before
        (row,) = get_store().query(
            f"SELECT count() AS n FROM {table.name} WHERE tenant_id = {{tenant_id:UUID}}"
            + condition,
            params,
        )
        counts[table.name] = int(row["n"])
    return counts


def ledger_rows(tenant: Tenant, before: dt.datetime | None = None) -> int:
    from controlplane.telemetry.models import UsageEvent

    with tenant_context(tenant):
        rows = UsageEvent.objects.all()
        if before:
            rows = rows.filter(occurred_at__lt=before)
        return rows.count()
