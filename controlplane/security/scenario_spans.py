"""The scenario kit's plan rendered as telemetry (controlplane/security/scenarios.py):
each agent's tasks hour by hour from its rhythm, holidays and Poisson noise, with the
incidents' and look-alikes' effects, as rows of ClickHouse ``spans`` (metadata only, no
bodies); when each incident's first anomalous data arrives; and the rows as the columns
``spans_insert`` takes."""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from controlplane.security.scenarios import (
    DAY,
    HOUR,
    MODELS,
    NAMESPACE,
    OFFICE_RHYTHM,
    TOOLS,
    AgentSpec,
    Plan,
    TenantPlan,
    effect_calls,
    last_business_days,
)
from controlplane.telemetry.records import SPAN_COLUMNS


def _hourly_rate(agent: AgentSpec, hour: dt.datetime, holidays: list[dt.date]) -> float:
    weekday = hour.weekday()
    if agent.pattern == "office":
        if weekday >= 5 or hour.date() in holidays:
            return 0.0
        return agent.rate * OFFICE_RHYTHM.get(hour.hour, 0.0)
    if agent.pattern == "24x7":
        return agent.rate * (0.6 if hour.hour < 6 else 1.0)
    if agent.pattern == "nightly":
        return agent.rate if hour.hour in (1, 2) else 0.0
    if agent.pattern == "month_end":
        if hour.date() in last_business_days(hour.year, hour.month) and 9 <= hour.hour < 17:
            return agent.rate
        return 0.0
    raise ValueError(agent.pattern)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


@dataclass
class SpanRow:
    agent: str
    start: dt.datetime
    duration_ms: int
    trace: str
    span: str
    parent: str
    kind: str
    name: str
    status: str
    provider: str = ""
    model: str = ""
    tool: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    attributes: dict[str, Any] = field(default_factory=dict)
    classes: list[str] = field(default_factory=list)


def _task(
    rng: random.Random,
    agent: AgentSpec,
    at: dt.datetime,
    tenant: str,
    counter: list[int],
    rows_factor: float = 1.0,
    retries: int = 0,
    forced_tool: str = "",
    forced_rows: int = -1,
) -> list[SpanRow]:
    counter[0] += 1
    trace = uuid.uuid5(NAMESPACE, f"{tenant}/{agent.name}/{counter[0]}").hex
    spans = [
        SpanRow(
            agent.name, at, 0, trace, trace[:16], "", "step", f"invoke_agent {agent.name}", "ok"
        )
    ]
    clock = at + dt.timedelta(milliseconds=5)
    provider, model = MODELS[rng.random() < 0.3]
    for attempt in range(retries):
        spans.append(
            SpanRow(
                agent.name,
                clock,
                200,
                trace,
                f"{trace[16:28]}r{attempt:03d}",
                trace[:16],
                "model",
                "chat",
                "error",
                provider,
                model,
            )
        )
        clock += dt.timedelta(milliseconds=220)
    spans.append(
        SpanRow(
            agent.name,
            clock,
            900,
            trace,
            trace[16:32],
            trace[:16],
            "model",
            "chat",
            "ok",
            provider,
            model,
            "",
            max(100, int(rng.gauss(1500, 300))),
            max(20, int(rng.gauss(300, 80))),
        )
    )
    clock += dt.timedelta(milliseconds=950)
    tools = (
        [forced_tool]
        if forced_tool
        else [rng.choice(agent.tools) for _ in range(rng.choice((1, 1, 2)))]
    )
    for index, tool in enumerate(tools):
        collection, classification, host = TOOLS[tool]
        attributes: dict[str, Any] = {"gen_ai.operation.name": "execute_tool"}
        if collection:
            rows = (
                forced_rows
                if forced_rows >= 0
                else int(rng.expovariate(1 / agent.rows_per_call) * rows_factor)
            )
            attributes["db.collection.name"] = collection
            attributes["db.response.returned_rows"] = rows
        if classification:
            attributes["data.classification"] = classification
        if host:
            attributes["server.address"] = host
        spans.append(
            SpanRow(
                agent.name,
                clock,
                120,
                trace,
                f"{trace[:12]}t{index:03d}",
                trace[:16],
                "tool",
                f"execute_tool {tool}",
                "ok",
                tool=tool,
                attributes=attributes,
            )
        )
        clock += dt.timedelta(milliseconds=130)
    spans[0].duration_ms = int((clock - at).total_seconds() * 1000)
    return spans


def burst(
    agent: AgentSpec,
    *,
    tenant: str,
    start: dt.datetime,
    minutes: int,
    tasks: int,
    tool: str = "",
    rows: int = -1,
) -> list[SpanRow]:
    """``tasks`` tasks of ``agent`` spread evenly over ``minutes`` from ``start``, each
    rendered as the kit renders its own (a step, a model call, its tool calls; ``tool``
    and ``rows`` forced when given): an anomaly to plant into a history made elsewhere
    (the demo's, controlplane/security/demo.py). Deterministic from its arguments."""
    key = f"{tenant}/{agent.name}/{start.isoformat()}/{tool}"
    rng = random.Random(key)  # noqa: S311 - reproducible, not secret
    counter = [0]
    rendered: list[SpanRow] = []
    for index in range(tasks):
        at = start + dt.timedelta(seconds=index * minutes * 60 / tasks + rng.random())
        rendered.extend(_task(rng, agent, at, key, counter, forced_tool=tool, forced_rows=rows))
    return rendered


def spans(scenario: Plan, tenant: TenantPlan) -> Iterator[SpanRow]:
    """The tenant's spans in time order of their tasks, one hour at a time."""
    counter = [0]
    # Seeded by the tenant's name without the run's prefix: every load of one seed is the
    # same telemetry, so scores of different runs compare.
    name = tenant.slug.split("-", 1)[-1]
    rng = random.Random(f"{scenario.seed}/{name}")  # noqa: S311 - reproducible, not secret
    effects = scenario.effects[tenant.slug]
    hour = scenario.start
    while hour < scenario.until:
        end = hour + HOUR
        batch: list[SpanRow] = []
        for agent in tenant.agents:
            active = [
                e for e in effects if e.agent == agent.name and e.start < end and hour < e.end
            ]
            base = _hourly_rate(agent, hour, tenant.holidays)
            for minute in range(60 if base or active else 0):
                at = hour + dt.timedelta(minutes=minute)
                here = [e for e in active if e.start <= at < e.end]
                rate = base * _product(e.rate_factor for e in here) + sum(
                    e.extra_rate for e in here
                )
                rows_factor = _product(e.rows_factor for e in here)
                retries = max((e.failed_retries for e in here), default=0)
                for _ in range(_poisson(rng, rate / 60)):
                    moment = at + dt.timedelta(seconds=rng.random() * 59)
                    batch.extend(
                        _task(rng, agent, moment, tenant.slug, counter, rows_factor, retries)
                    )
                for effect in here:
                    if effect.tool and effect.tool_calls:
                        index = int((at - effect.start) / dt.timedelta(minutes=1))
                        for _ in range(effect_calls(effect, index)):
                            moment = at + dt.timedelta(seconds=rng.random() * 59)
                            batch.extend(
                                _task(
                                    rng,
                                    agent,
                                    moment,
                                    tenant.slug,
                                    counter,
                                    forced_tool=effect.tool,
                                    forced_rows=effect.tool_rows,
                                )
                            )
            for effect in effects:
                if effect.agent != agent.name or not effect.daily_tool or effect.start >= end:
                    continue
                first = effect.start
                days = int((hour - first.replace(hour=0, minute=0)) / DAY)
                use = first + days * DAY
                if hour <= use < end and use.weekday() < 5:
                    batch.extend(
                        _task(rng, agent, use, tenant.slug, counter, forced_tool=effect.daily_tool)
                    )
        batch.sort(key=lambda s: s.start)
        yield from batch
        hour = end


def first_spans(scenario: Plan, tenant: TenantPlan) -> dict[int, dt.datetime]:
    """When the first span of each of the tenant's incidents started, for those whose
    agents have no work of their own in the incident's hours (a night shift): every span
    of theirs then is the incident's. By the label's index in ``scenario.labels``."""
    specs = {agent.name: agent for agent in tenant.agents}
    idle = {}
    for index, label in enumerate(scenario.labels):
        if label.tenant != tenant.slug or label.kind in ("benign", "escalation"):
            continue
        hour = label.start.replace(minute=0, second=0, microsecond=0)
        hours = []
        while hour < label.end:
            hours.append(hour)
            hour += HOUR
        if all(not _hourly_rate(specs[a], h, tenant.holidays) for a in label.agents for h in hours):
            idle[index] = label
    found: dict[int, dt.datetime] = {}
    if not idle:
        return found
    last = max(label.end for label in idle.values())
    for row in spans(scenario, tenant):
        if row.start >= last:
            break
        for index, label in idle.items():
            if index not in found and row.agent in label.agents and label.start <= row.start:
                found[index] = row.start
    return found


def _product(values: Iterator[float] | Any) -> float:
    result = 1.0
    for value in values:
        result *= value
    return result


def span_columns(
    rows: list[SpanRow],
    *,
    tenant_id: uuid.UUID,
    agent_ids: dict[str, uuid.UUID],
    site_id: uuid.UUID,
    edge_node_id: uuid.UUID,
) -> dict[str, list[Any]]:
    """Rows as the columns ``spans_insert`` takes."""
    zero = str(uuid.UUID(int=0))
    columns: dict[str, list[Any]] = {name: [] for name in SPAN_COLUMNS}
    tenant_text = str(tenant_id)
    for row in rows:
        values = {
            "tenant_id": tenant_text,
            "event_id": str(uuid.uuid5(NAMESPACE, f"{tenant_text}/{row.trace}/{row.span}")),
            "trace_id": row.trace,
            "span_id": row.span,
            "parent_span_id": row.parent,
            "department_id": zero,
            "agent_id": str(agent_ids[row.agent]),
            "site_id": str(site_id),
            "edge_node_id": str(edge_node_id),
            "kind": row.kind,
            "name": row.name,
            "start_time": row.start,
            "end_time": row.start + dt.timedelta(milliseconds=row.duration_ms),
            "status": row.status,
            "status_message": "upstream returned 503" if row.status == "error" else "",
            "provider": row.provider,
            "model": row.model,
            "tool": row.tool,
            "input_tokens": row.input_tokens,
            "output_tokens": row.output_tokens,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
            "cost": Decimal(row.input_tokens * 15 + row.output_tokens * 60) / Decimal(100_000_000),
            "data_classes": row.classes,
            "attributes": json.dumps(row.attributes, separators=(",", ":")),
            "request_body": "",
            "response_body": "",
            "content_hash": "",
            "retention_days": 395,
        }
        for name, value in values.items():
            columns[name].append(value)
    return columns
