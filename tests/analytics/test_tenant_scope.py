"""ClickHouse's wall: every read goes through the tenant-scoped layer
(controlplane/analytics/scoped.py), and every query function of the app filters by
tenant. The functions are found by reading the source, so a new one that is not listed
here fails the test until it is shown to keep to its tenant."""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from billing.pricing import PriceBook
from compliance import evidence_queries as evidence
from compliance.dataflow_queries import flow_rows
from compliance.privacy import clickhouse as privacy
from controlplane.analytics.scoped import UnscopedQuery, tenant_query, unscoped_reads
from controlplane.dashboards import queries, split
from controlplane.dashboards.panels import DIMENSIONS
from controlplane.dashboards.queries import Filters, Window
from controlplane.gateway.savings import gateway_savings
from controlplane.security import queries as security
from controlplane.telemetry import spans
from controlplane.telemetry.records import build_batch
from edge.identifiers import parse_identifier
from tenants.models import Tenant
from tests.telemetry.records import spool_line

ROOT = Path(__file__).resolve().parents[2]
APP_PACKAGES = ("controlplane", "compliance", "billing", "tenants")
LAYER = "controlplane/analytics"

# The explicit exceptions: queries across every tenant, for the MSP staff console only.
ALL_TENANT_QUERIES = {
    # the staff fleet view, whole or split into settled hours and the open tail
    "controlplane.dashboards.fleet.usage",
    "controlplane.dashboards.fleet.series",
    "controlplane.dashboards.fleet.usage_part",
    "controlplane.dashboards.fleet.previous",
    "controlplane.dashboards.fleet.split_series",
    # the tenant-wide budgets' burn: one cost figure per tenant and period
    "controlplane.dashboards.fleet.costs_since",
    # provider health: providers serve many tenants, and only counts leave the query
    "controlplane.dashboards.queries.provider_attempts_recent",
    # retention: which tenants have rows in each month, to drop a month every one is past
    "compliance.privacy.clickhouse.partition_counts",
}
# The layer's reads, by the wall they keep to (the Arrow read is tenant_query's twin).
LAYER_CALLS = {
    "tenant_query": "tenant_query",
    "tenant_query_arrow": "tenant_query",
    "all_tenants_query": "all_tenants_query",
}
# What the app may call on get_store() outside the layer: writes and health.
STORE_CALLS_OUTSIDE_THE_LAYER = {"insert", "ping"}


def _app_modules() -> Iterator[tuple[str, ast.Module]]:
    for package in APP_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "migrations" in relative.parts:
                continue
            module = ".".join(relative.with_suffix("").parts)
            yield module, ast.parse(path.read_text(), str(relative))


def _called_names(function: ast.AST) -> set[str]:
    return {
        node.func.id
        for node in ast.walk(function)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    }


def query_functions() -> dict[str, set[str]]:
    """Every public module-level function of the app that reaches ``tenant_query`` or
    ``all_tenants_query``, directly or through the module's private helpers: qualified
    name → which of the two it reaches."""
    found: dict[str, set[str]] = {}
    for module, tree in _app_modules():
        if module.startswith(LAYER.replace("/", ".")):
            continue
        functions = {
            node.name: _called_names(node)
            for node in tree.body
            if isinstance(node, ast.FunctionDef)
        }
        reaches: dict[str, set[str]] = {
            name: {LAYER_CALLS[call] for call in calls & LAYER_CALLS.keys()}
            for name, calls in functions.items()
        }
        changed = True
        while changed:  # through helpers of the module, to any depth
            changed = False
            for name, calls in functions.items():
                for helper in calls & functions.keys():
                    if not reaches[helper] <= reaches[name]:
                        reaches[name] |= reaches[helper]
                        changed = True
        for name, layer_calls in reaches.items():
            if layer_calls and not name.startswith("_"):
                found[f"{module}.{name}"] = layer_calls
    return found


def test_the_scan_knows_every_read_of_the_layer() -> None:
    layer = ast.parse((ROOT / LAYER / "scoped.py").read_text())
    reads = {
        node.name
        for node in layer.body
        if isinstance(node, ast.FunctionDef) and "_query" in node.name
    }
    assert reads == LAYER_CALLS.keys()


def test_nothing_outside_the_layer_reads_clickhouse_directly() -> None:
    offences = []
    for module, tree in _app_modules():
        if module.startswith(LAYER.replace("/", ".")):
            continue
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Name) and node.id == "get_store"):
                continue
            call = parents.get(node)
            attribute = parents.get(call) if isinstance(call, ast.Call) else None
            if not (
                isinstance(attribute, ast.Attribute)
                and attribute.attr in STORE_CALLS_OUTSIDE_THE_LAYER
            ):
                offences.append(f"{module}:{node.lineno}")
    assert offences == []


def test_the_all_tenant_queries_are_only_the_listed_exceptions() -> None:
    found = query_functions()
    assert {name for name, layer in found.items() if "all_tenants_query" in layer} == (
        ALL_TENANT_QUERIES
    )


def test_the_layer_refuses_sql_that_reads_a_table_without_the_tenant_filter() -> None:
    tenant = uuid.uuid4()
    for sql in (
        "SELECT count() FROM spans",
        "SELECT count() FROM spans WHERE agent_id = {tenant_id:UUID}",
        "SELECT * FROM spans WHERE tenant_id = {tenant_id:UUID} "
        "AND trace_id IN (SELECT trace_id FROM spans)",
        "SELECT * FROM spans_minute AS r JOIN spans ON 1 WHERE tenant_id = {tenant_id:UUID}",
        "SELECT * FROM spans WHERE tenant_id = {other:UUID}",
    ):
        assert unscoped_reads(sql), sql
        with pytest.raises(UnscopedQuery):
            tenant_query(sql, tenant_id=tenant)
    with pytest.raises(UnscopedQuery, match="another tenant"):
        tenant_query(
            "SELECT 1 FROM spans WHERE tenant_id = {tenant_id:UUID}",
            tenant_id=tenant,
            params={"tenant_id": uuid.uuid4()},
        )
    assert (
        unscoped_reads(
            "WITH mine AS (SELECT trace_id FROM spans WHERE tenant_id = {tenant_id:UUID}) "
            "SELECT * FROM spans FINAL WHERE tenant_id = {tenant_id:UUID} "
            "AND trace_id IN (SELECT trace_id FROM mine)"
        )
        == []
    )


# --- every tenant query, run against two tenants' data --------------------------------

HOUR = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) - dt.timedelta(hours=2)
SINCE, UNTIL = HOUR - dt.timedelta(hours=22), HOUR + dt.timedelta(hours=2)
WINDOW = Window(since=SINCE, until=UNTIL, bucket_seconds=3600)
DAYS = Window(since=SINCE - dt.timedelta(days=2), until=UNTIL, bucket_seconds=3600)
TRACE = 0xB0B
REFUND = parse_identifier("customer_id", "refund")  # in a body of the span below
ATTEMPTS = [
    {"provider": "openai", "model": "gpt-4o-mini", "status": "error", "breaker_tripped": True},
    {"provider": "openai", "model": "gpt-4o-mini", "status": "ok", "breaker_tripped": False},
]
VERDICT = {"stage": "content_filter", "verdict": "block", "code": "filter.pii", "reason": "pii"}


# How each tenant query function is called for a tenant (and the event id of the first
# span seeded below); the data below makes each return something for the tenant that has it.
def _tail(tenant_id: uuid.UUID) -> list[dict[str, Any]]:
    found = split.tail_rows(tenant_id, WINDOW, Filters(), DIMENSIONS)
    groups = [
        {"group": f"{dimension}/{key}", **{k: v for k, v in part.items() if k != "states"}}
        for (dimension, key), part in found.groups.items()
    ]
    return [*found.buckets, *groups]


CALLS: dict[str, Callable[[uuid.UUID, uuid.UUID], Any]] = {
    "controlplane.dashboards.queries.usage_overview": lambda t, e: dataclasses.asdict(
        queries.usage_overview(t, WINDOW, Filters())
    ),
    "controlplane.dashboards.queries.overview_buckets": lambda t, e: queries.overview_buckets(
        t, WINDOW, Filters()
    ),
    # A split window's groups with their sums (decision 0048), over days and hours.
    "controlplane.dashboards.split.breakdown_parts": lambda t, e: [
        {"group": f"{dimension}/{key}", **{k: v for k, v in part.items() if k != "states"}}
        for group in queries.breakdown_groups(DAYS, Filters(), DIMENSIONS)
        for (dimension, key), part in split.breakdown_parts(t, DAYS, Filters(), group).items()
    ],
    # A split window's open tail (decision 0059): its chart buckets and every group.
    "controlplane.dashboards.split.tail_rows": lambda t, e: _tail(t),
    "controlplane.dashboards.split.breakdowns": lambda t, e: [
        dataclasses.asdict(split.breakdowns(split.Split(t, WINDOW, Filters(), HOUR, UNTIL), group))
        for group in queries.breakdown_groups(WINDOW, Filters(), DIMENSIONS)
    ],
    "controlplane.dashboards.queries.usage_by": lambda t, e: queries.usage_by(
        t, WINDOW, Filters(), "provider"
    ),
    # Every breakdown, over whole days and the hours around them (the daily tables too).
    "controlplane.dashboards.queries.breakdowns": lambda t, e: [
        dataclasses.asdict(queries.breakdowns(t, DAYS, Filters(), group))
        for group in queries.breakdown_groups(DAYS, Filters(), DIMENSIONS)
    ],
    "controlplane.dashboards.queries.provider_attempts": lambda t, e: queries.provider_attempts(
        t, WINDOW, Filters()
    ),
    "controlplane.telemetry.spans.hourly_totals": lambda t, e: spans.hourly_totals(t, SINCE, UNTIL),
    "controlplane.telemetry.spans.event_ids_in_hour": lambda t, e: spans.event_ids_in_hour(t, HOUR),
    "controlplane.telemetry.spans.event_stored": lambda t, e: spans.event_stored(t, e),
    "controlplane.telemetry.spans.events_stored": lambda t, e: spans.events_stored(
        t, [str(e)], SINCE, UNTIL
    ),
    "controlplane.telemetry.spans.trace_list": lambda t, e: spans.trace_list(
        t, since=SINCE, until=UNTIL
    ),
    "controlplane.telemetry.spans.trace_totals": lambda t, e: spans.trace_totals(
        t, since=SINCE, until=UNTIL
    ),
    "controlplane.gateway.savings.gateway_savings": lambda t, e: dataclasses.asdict(
        gateway_savings(tenant_id=t, start=SINCE, end=UNTIL)
    ),
    "controlplane.telemetry.spans.matching_as_shown": lambda t, e: spans.matching_as_shown(
        t,
        [{"trace_id": f"{TRACE:032x}"}],
        since=SINCE,
        until=UNTIL,
        text="refund",
        shown=str,
    ),
    "controlplane.telemetry.spans.trace_spans": lambda t, e: spans.trace_spans(t, f"{TRACE:032x}"),
    "compliance.dataflow_queries.flow_rows": lambda t, e: flow_rows(t, since=SINCE, until=UNTIL),
    "controlplane.security.queries.agent_minutes": lambda t, e: security.agent_minutes(
        t, SINCE, UNTIL
    ),
    "controlplane.security.queries.agent_hours": lambda t, e: security.agent_hours(t, SINCE, UNTIL),
    "controlplane.security.queries.agent_hours_table": lambda t, e: security.agent_hours_table(
        t, SINCE, UNTIL
    ).to_pylist(),
    "controlplane.security.queries.scope_history": lambda t, e: security.scope_history(
        t, SINCE, UNTIL
    ),
    "controlplane.security.queries.scope_minutes": lambda t, e: security.scope_minutes(
        t, SINCE, UNTIL
    ),
    "controlplane.security.queries.first_activity": lambda t, e: [
        {"agent": str(agent), "at": at} for agent, at in security.first_activity(t, UNTIL).items()
    ],
    "controlplane.security.queries.agent_peaks": lambda t, e: [
        {"agent": str(agent), **peaks}
        for agent, peaks in security.agent_peaks(t, SINCE, UNTIL).items()
    ],
    "controlplane.security.queries.sample_traces": lambda t, e: security.sample_traces(
        t, [row["agent_id"] for row in security.agent_minutes(t, SINCE, UNTIL)], SINCE, UNTIL
    ),
    **{
        f"compliance.evidence_queries.{query.__name__}": (
            lambda t, e, query=query: query(t, SINCE, UNTIL).rows
        )
        for query in (
            evidence.gateway_verdicts,
            evidence.refusals,
            evidence.data_classes_accessed,
            evidence.provider_attempts,
            evidence.model_calls_by_provider,
            evidence.peak_request_rates,
            evidence.incomplete_traces,
            evidence.trace_count,
            evidence.oldest_span,
            evidence.central_bodies,
        )
    },
    "compliance.privacy.clickhouse.rows_before": lambda t, e: {
        "n": privacy.rows_before("spans_minute", t, UNTIL, [])
    },
    "compliance.privacy.clickhouse.bodies_before": lambda t, e: {
        "n": privacy.bodies_before(t, UNTIL, [])
    },
    "compliance.privacy.clickhouse.matching_rows": lambda t, e: {
        "n": privacy.matching_rows("spans", t, [REFUND])
    },
    "compliance.privacy.clickhouse.matching_spans": lambda t, e: privacy.matching_spans(
        t, [REFUND], limit=10
    ),
    "compliance.privacy.clickhouse.matching_traces": lambda t, e: privacy.matching_traces(
        t, [REFUND], []
    ),
    "compliance.privacy.clickhouse.spans_of_traces": lambda t, e: {
        "n": privacy.spans_of_traces(t, [f"{TRACE:032x}"])
    },
}


def _nothing(result: Any) -> bool:
    """No row, or only rows of zeros and blanks (an aggregate over nothing)."""
    if isinstance(result, dict | bool):
        result = [result]
    for row in result:
        values = row.values() if isinstance(row, dict) else [row]
        for value in values:
            if isinstance(value, dict | list | tuple):
                if not _nothing([value] if isinstance(value, dict) else list(value)):
                    return False
            elif value not in (None, "", 0, Decimal(0)) and value == value:  # NaN is nothing
                return False
    return True


def test_every_tenant_query_function_is_listed() -> None:
    found = query_functions()
    assert {name for name, layer in found.items() if "tenant_query" in layer} == set(CALLS)


@pytest.mark.django_db
def test_every_tenant_query_returns_only_its_tenants_rows(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    lines = [
        spool_line(
            tenant_b,
            when=HOUR + dt.timedelta(minutes=5),
            trace=TRACE,
            span=1,
            status="error",
            request_body="please refund order 7",
            attributes={"acp.gateway.route": "r1", "acp.gateway.attempts": ATTEMPTS},
        ),
        spool_line(
            tenant_b,
            when=HOUR + dt.timedelta(minutes=6),
            trace=TRACE,
            span=2,
            kind="tool",
            tool="crm.lookup",
            attributes={"server.address": "crm.example"},
        ),
        # A refused call with a verdict, touching classified data, whose parent never
        # arrived (the compliance tests read these).
        spool_line(
            tenant_b,
            when=HOUR + dt.timedelta(minutes=7),
            trace=TRACE,
            span=3,
            status="refused",
            parent_span_id=f"{99:016x}",
            data_classes=["pii"],
            attributes={"acp.gateway.verdicts": [VERDICT]},
        ),
    ]
    batch = build_batch(lines, prices=PriceBook([]), retention_days={})
    spans.spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))
    event = uuid.UUID(batch.spans["event_id"][0])

    for name, call in CALLS.items():
        assert not _nothing(call(tenant_b.pk, event)), f"{name} finds nothing of its own tenant"
        assert _nothing(call(tenant_a.pk, event)), f"{name} returns another tenant's rows"
