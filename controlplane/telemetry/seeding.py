"""A large, realistic synthetic history for benchmarks and demos: ``manage.py seed_events``.

Tenants (Zipf-sized), their departments, sites, edge nodes, agents and soft tenant-wide
budgets are created through the services, reused by slug and name when present. Events
are generated as traces (an agent step with its model and tool calls) by numpy, a chunk
at a time, and loaded into both stores with the same event ids: the Postgres ledger
(``ledger_insert``, binary COPY) and ClickHouse ``spans`` (``spans_insert``; the
materialized views fill the rollups).
Bodies are short templates: the point is volume for the dashboards, not content.

Everything follows from ``seed``: the same seed, event count and ``until`` give the same
events; the ids depend on the seed alone. A chunk is written to ClickHouse first, then
to the ledger in one transaction, so a chunk whose first event is in the ledger is
complete in both stores and is skipped: running again does not double anything, and an
interrupted run resumes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import math
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pyarrow as pa
from django.db import connection, transaction

from controlplane.agents.models import Agent, EdgeNode, Site
from controlplane.agents.services import agent_create, edge_node_create, site_create
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import Budget
from controlplane.gateway.services import budget_create
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.simulator import DATA_CLASSES_BY_ROLE, QUESTIONS, TOOLS_BY_ROLE
from controlplane.telemetry.spans import SPANS_SCHEMA, spans_insert
from tenants.models import Department, Tenant
from tenants.services import department_create, tenant_create

ACTOR = Actor.system("seed_events")
CHUNK = 100_000
SLUG_PREFIX = "seed-"
ROLES = {
    "support": "Customer Support",
    "engineering": "Engineering",
    "finance": "Finance",
    "marketing": "Marketing",
    "hr": "People",
}
# provider, model, share of model calls, USD per million input / output tokens.
MODELS = (
    ("openai", "gpt-4o-mini", 0.34, "0.15", "0.60"),
    ("openai", "gpt-4o", 0.12, "2.50", "10.00"),
    ("anthropic", "claude-3-5-haiku", 0.2, "0.80", "4.00"),
    ("anthropic", "claude-sonnet-4", 0.1, "3.00", "15.00"),
    ("google", "gemini-2.0-flash", 0.16, "0.10", "0.40"),
    ("mistral", "mistral-large", 0.08, "2.00", "6.00"),
)
# Relative fault rate of each provider's model calls.
PROVIDER_FAULTS = {"openai": 1.0, "anthropic": 0.7, "google": 1.6, "mistral": 2.2}
COMPANY_WORDS = (
    ("Northwind", "Contoso", "Fabrikam", "Tailspin", "Woodgrove", "Litware", "Adatum",
     "Proseware", "Lucerne", "Wingtip"),
    ("Logistics", "Health", "Insurance", "Retail", "Legal", "Energy", "Media", "Foods",
     "Capital", "Labs"),
)  # fmt: skip
STEP_NAMES = ("agent.run", "agent.plan", "agent.answer")
ERROR_MESSAGES = ("upstream returned 500", "rate limited (429)", "invalid tool arguments")
REFUSAL_MESSAGE = "refused by policy: data class not allowed for this model"
TIMEOUT_MESSAGE = "deadline exceeded after 30 s"


@dataclass(frozen=True)
class SeedAgent:
    id: str
    tenant_id: str
    department_id: str
    site_id: str
    edge_node_id: str
    role: str
    retention_days: int


@dataclass(frozen=True)
class Fleet:
    tenants: list[Tenant]
    agents: list[SeedAgent]
    tenant_weights: np.ndarray  # share of the events per tenant
    agent_weights: np.ndarray  # share of the events per agent (sums to 1)
    tenant_of_agent: np.ndarray  # tenant index per agent


@dataclass
class SeedResult:
    loaded: int = 0
    skipped: int = 0
    seconds: float = 0.0


# --- the fleet --------------------------------------------------------------------------


def zipf_weights(count: int, exponent: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, count + 1) ** exponent
    return np.asarray(weights / weights.sum())


def agents_per_tenant(tenants: int, agents: int) -> list[int]:
    """At least two agents per tenant, the rest in proportion to the tenants' Zipf sizes."""
    base = 2
    rest = agents - base * tenants
    shares = zipf_weights(tenants, 1.0) * rest
    counts = np.floor(shares).astype(int)
    for index in np.argsort(-(shares - counts))[: rest - int(counts.sum())]:
        counts[index] += 1
    return [base + int(c) for c in counts]


def company_name(index: int) -> str:
    first, second = COMPANY_WORDS
    return f"{first[index % len(first)]} {second[index // len(first) % len(second)]} {index:03d}"


# Soft tenant-wide budgets, as an MSP sets them: a monthly one on every tenant, a daily one
# on every other; the fleet view shows each tenant's burn.
TENANT_BUDGETS = ((Budget.Period.MONTH, Decimal(5000)), (Budget.Period.DAY, Decimal(250)))


def _tenant_budgets(tenant: Tenant, index: int) -> None:
    with tenant_context(tenant):
        if Budget.objects.filter(scope=Budget.Scope.TENANT).exists():
            return
    for period, limit in TENANT_BUDGETS[: 1 + index % 2]:
        budget_create(
            actor=ACTOR, tenant=tenant, scope="tenant", period=period, limit=limit, kind="soft"
        )


def seed_fleet(*, tenants: int, agents: int, seed: int) -> Fleet:
    """Create (or find, by slug and names) the tenants and their registry through the
    services. About 2,000 agents take under a minute, so the services' validation and
    audit records are kept rather than bulk-inserted."""
    rng = np.random.default_rng([seed, 1])
    counts = agents_per_tenant(tenants, agents)
    roles = list(ROLES)
    seeded_tenants: list[Tenant] = []
    seeded_agents: list[SeedAgent] = []
    tenant_of_agent: list[int] = []
    agent_weights: list[np.ndarray] = []
    for index, agent_count in enumerate(counts):
        slug = f"{SLUG_PREFIX}{index + 1:03d}"
        tenant = Tenant.objects.filter(slug=slug).first() or tenant_create(
            actor=ACTOR, slug=slug, name=company_name(index)
        )
        seeded_tenants.append(tenant)
        _tenant_budgets(tenant, index)
        tenant_roles = roles[: min(len(roles), 2 + agent_count // 10)]
        site_count = 1 + (agent_count > 20) + (agent_count > 100)
        with tenant_context(tenant):
            departments = {role: _department(tenant, ROLES[role]) for role in tenant_roles}
            nodes = [_edge_node(tenant, f"Site {n + 1}") for n in range(site_count)]
            existing = {a.name: a for a in Agent.objects.all()}
        for number in range(agent_count):
            role = tenant_roles[number % len(tenant_roles)]
            name = f"{role}-{TOOLS_BY_ROLE[role][0].split('.')[0]}-{number + 1:03d}"
            node = nodes[number % len(nodes)]
            agent = existing.get(name) or agent_create(
                actor=ACTOR,
                tenant=tenant,
                name=name,
                department=departments[role],
                role=role,
                purpose=f"Seeded {role} agent",
            )
            seeded_agents.append(
                SeedAgent(
                    id=str(agent.pk),
                    tenant_id=str(tenant.pk),
                    department_id=str(agent.department_id or departments[role].pk),
                    site_id=str(node.site_id),
                    edge_node_id=str(node.pk),
                    role=role,
                    retention_days=tenant.retention_days,
                )
            )
            tenant_of_agent.append(index)
        agent_weights.append(rng.permutation(zipf_weights(agent_count, 0.8)))
    tenant_weights = zipf_weights(tenants, 1.0)
    return Fleet(
        tenants=seeded_tenants,
        agents=seeded_agents,
        tenant_weights=tenant_weights,
        agent_weights=np.concatenate([w * tenant_weights[i] for i, w in enumerate(agent_weights)]),
        tenant_of_agent=np.asarray(tenant_of_agent),
    )


def _department(tenant: Tenant, name: str) -> Department:
    found = Department.objects.filter(name=name).first()
    return found or department_create(actor=ACTOR, tenant=tenant, name=name)


def _edge_node(tenant: Tenant, site_name: str) -> EdgeNode:
    site = Site.objects.filter(name=site_name).first() or site_create(
        actor=ACTOR, tenant=tenant, name=site_name
    )
    node = EdgeNode.objects.filter(site=site).first()
    if node is None:
        node, _ = edge_node_create(
            actor=ACTOR,
            site=site,
            name=f"edge-{site_name.split()[-1]}",
            pull_url="http://127.0.0.1:1",
            agent_url="http://127.0.0.1:1",
        )
    return node


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    index: int
    first_event_id: bytes
    ledger: list[tuple[object, ...]]
    spans: pa.Table


_HEX = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)


def _hex(raw: np.ndarray) -> np.ndarray:
    """Rows of bytes (n, k) as n lowercase hex strings of 2k characters."""
    digits = np.empty((raw.shape[0], raw.shape[1] * 2), dtype=np.uint8)
    digits[:, 0::2] = _HEX[raw >> 4]
    digits[:, 1::2] = _HEX[raw & 15]
    return digits.view(f"S{digits.shape[1]}").ravel()


def _uuid_bytes(rng: np.random.Generator, count: int) -> np.ndarray:
    raw = rng.integers(0, 256, size=(count, 16), dtype=np.uint8)
    raw[:, 6] = (raw[:, 6] & 0x0F) | 0x40  # version 4
    raw[:, 8] = (raw[:, 8] & 0x3F) | 0x80  # RFC 4122 variant
    return raw


def _uuid_texts(raw: np.ndarray) -> list[str]:
    text = _hex(raw).astype(str)
    return [f"{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:]}" for t in text.tolist()]


def hour_weights() -> np.ndarray:
    """Local-time activity by hour: quiet nights, a late-morning and an afternoon peak."""
    hours = np.arange(24) + 0.5
    rhythm = 0.08 + np.clip(np.sin(np.pi * (hours - 7) / 12), 0, None) ** 1.5
    return np.asarray(rhythm / rhythm.sum())


def generate_chunk(
    fleet: Fleet, *, seed: int, index: int, size: int, until: dt.datetime, days: int
) -> Chunk:
    """``size`` events of chunk ``index``, as traces of one step span and its model and
    tool calls (the last trace of a chunk may be cut short)."""
    rng = np.random.default_rng([seed, 2, index])
    agents = fleet.agents
    n_agents = len(agents)
    n_tenants = len(fleet.tenants)

    # Per tenant and agent: a time zone, a primary model, a fault-proneness, a role.
    traits = np.random.default_rng([seed, 3])
    tz_offset = traits.integers(-8, 10, size=n_tenants)
    model_share = np.array([m[2] for m in MODELS])
    model_share = model_share / model_share.sum()
    primary_model = traits.choice(len(MODELS), size=n_agents, p=model_share)
    agent_faults = traits.lognormal(0.0, 0.6, size=n_agents)
    role_names = list(ROLES)
    agent_role = np.array([role_names.index(a.role) for a in agents])
    incident_day = traits.integers(0, days, size=len(PROVIDER_FAULTS))
    incident_hour = traits.integers(8, 18, size=len(PROVIDER_FAULTS))

    # Traces: 1 step + 1..n model and tool calls; enough of them to fill the chunk.
    traces = int(size / 3.0) + 64
    children = 1 + rng.poisson(1.6, size=traces)
    lengths = 1 + children
    while lengths.sum() < size:
        more = 1 + 1 + rng.poisson(1.6, size=traces)
        lengths = np.concatenate([lengths, more])
    ends = np.cumsum(lengths)
    traces = int(np.searchsorted(ends, size) + 1)
    lengths = lengths[:traces]
    lengths[-1] -= int(ends[traces - 1] - size)
    ends = np.cumsum(lengths)
    firsts = ends - lengths

    trace_agent = rng.choice(n_agents, size=traces, p=fleet.agent_weights)
    trace_tenant = fleet.tenant_of_agent[trace_agent]
    day = rng.integers(0, days, size=traces)
    first_day = (until - dt.timedelta(days=days)).date()
    weekday = (first_day.weekday() + day) % 7
    weekend = weekday >= 5
    # Weekends are quieter: move most weekend traces to the weekday before or after.
    moved = weekend & (rng.random(traces) < 0.65)
    day = np.where(moved, np.where(weekday == 5, day - 1, day + 1), day)
    day = np.clip(day, 0, days - 1)
    local_hour = rng.choice(24, size=traces, p=hour_weights())
    hour = (local_hour - tz_offset[trace_tenant]) % 24
    start_seconds = (day * 86400 + hour * 3600).astype(np.float64) + rng.random(traces) * 3600

    span_trace = np.repeat(np.arange(traces), lengths)
    position = np.arange(size) - np.repeat(firsts, lengths)
    agent = trace_agent[span_trace]
    is_root = position == 0
    kind_code = np.where(is_root, 0, np.where((position % 2 == 1), 1, 2))  # step, model, tool
    kind_code = np.where(~is_root & (rng.random(size) < 0.15), 3 - kind_code, kind_code)
    is_model = kind_code == 1
    is_tool = kind_code == 2

    model_index = np.where(
        rng.random(size) < 0.8,
        primary_model[agent],
        rng.choice(len(MODELS), size=size, p=model_share),
    )
    provider_names = list(PROVIDER_FAULTS)
    provider_index = np.array([provider_names.index(m[0]) for m in MODELS])[model_index]
    tool_pick = rng.choice(3, size=size, p=[0.5, 0.3, 0.2])

    # Faults: provider and agent proneness, and one bad hour per provider.
    span_day = day[span_trace]
    span_hour = hour[span_trace]
    incident = (span_day == incident_day[provider_index]) & (
        span_hour == incident_hour[provider_index]
    )
    provider_faults = np.array(list(PROVIDER_FAULTS.values()))[provider_index]
    fault_scale = agent_faults[agent] * np.where(is_model, provider_faults, 1.0)
    roll = rng.random(size)
    error_p = np.where(is_model, 0.012, 0.02) * fault_scale + np.where(
        is_model & incident, 0.3, 0.0
    )
    timeout_p = np.where(is_model, 0.005, 0.003) * fault_scale + np.where(
        is_model & incident, 0.2, 0.0
    )
    refused_p = np.where(is_model, 0.008 * agent_faults[agent], 0.0)
    status_code = np.zeros(size, dtype=np.int8)  # ok, error, timeout, refused
    status_code[roll < error_p] = 1
    status_code[(roll >= error_p) & (roll < error_p + timeout_p)] = 2
    status_code[(roll >= error_p + timeout_p) & (roll < error_p + timeout_p + refused_p)] = 3
    status_code[is_root] = 0

    # Latency (ms): by model size for model calls, short for tools.
    model_median = np.array([700, 1800, 900, 2600, 600, 1500], dtype=np.float64)
    duration = np.where(
        is_model,
        rng.lognormal(np.log(model_median[model_index]), 0.5),
        rng.lognormal(np.log(150), 0.8),
    )
    duration = np.where(status_code == 2, 30000 + rng.random(size) * 500, duration)
    duration = np.where(status_code == 3, 2 + rng.random(size) * 10, duration)
    duration = np.where(status_code == 1, duration * 0.3, duration)
    # Children run one after the other; the step spans them all.
    child_duration = np.where(is_root, 0.0, duration)
    trace_total = np.add.reduceat(child_duration, firsts) + 5.0
    before = np.cumsum(child_duration) - child_duration
    offset_ms = np.where(is_root, 0.0, before - before[firsts][span_trace] + 2.0)
    duration = np.where(is_root, trace_total[span_trace], duration)
    latest = days * 86400 - trace_total / 1000 - 1
    start_seconds = np.minimum(start_seconds, latest)
    span_failed = np.where(is_root, 0, (status_code == 1) | (status_code == 2)).astype(np.int8)
    trace_failed = np.maximum.reduceat(span_failed, firsts)
    status_code = np.where(is_root & (trace_failed[span_trace] > 0), 1, status_code)

    origin_us = int((until - dt.timedelta(days=days)).timestamp() * 1_000_000)
    start_us = (
        origin_us
        + (start_seconds[span_trace] * 1_000_000).astype(np.int64)
        + (offset_ms * 1000).astype(np.int64)
    )
    end_us = start_us + (duration * 1000).astype(np.int64)

    # Tokens and cost (integer nano-dollars, exact).
    input_tokens = np.where(
        is_model, np.clip(rng.lognormal(np.log(1400), 0.8, size), 20, 120_000), 0
    ).astype(np.int64)
    output_tokens = np.where(
        is_model & (status_code == 0), np.clip(rng.lognormal(np.log(260), 0.9, size), 1, 8000), 0
    ).astype(np.int64)
    input_tokens = np.where(status_code == 3, 0, input_tokens)
    nano_in = np.array([int(Decimal(m[3]) * 1000) for m in MODELS], dtype=np.int64)
    nano_out = np.array([int(Decimal(m[4]) * 1000) for m in MODELS], dtype=np.int64)
    cost_nanos = input_tokens * nano_in[model_index] + output_tokens * nano_out[model_index]
    cost_nanos = np.where(is_model, cost_nanos, 0)

    ids = np.random.default_rng([seed, 4, index])
    event_raw = _uuid_bytes(ids, size)
    trace_hex = _hex(ids.integers(0, 256, size=(traces, 16), dtype=np.uint8))
    span_hex = _hex(ids.integers(0, 256, size=(size, 8), dtype=np.uint8))
    content_hex = _hex(ids.integers(0, 256, size=(size, 32), dtype=np.uint8))
    root_span = span_hex[firsts][span_trace]

    # Text columns, from small tables indexed by the codes above.
    kinds = np.array(["step", "model", "tool"], dtype=object)[kind_code]
    statuses = np.array(["ok", "error", "timeout", "refused"], dtype=object)[status_code]
    providers = np.where(is_model, np.array([m[0] for m in MODELS], dtype=object)[model_index], "")
    models = np.where(is_model, np.array([m[1] for m in MODELS], dtype=object)[model_index], "")
    role_tools = np.array([TOOLS_BY_ROLE[r] for r in role_names], dtype=object)
    tools = np.where(is_tool, role_tools[agent_role[agent], tool_pick], "")
    step_names = np.array(STEP_NAMES, dtype=object)[rng.integers(0, len(STEP_NAMES), size)]
    names = np.where(
        is_root, step_names, np.where(is_model, "chat " + models, "execute_tool " + tools)
    )
    error_text = np.array(ERROR_MESSAGES, dtype=object)[rng.integers(0, 3, size)]
    messages = np.select(
        [status_code == 1, status_code == 2, status_code == 3],
        [np.where(is_root, "a call of the step failed", error_text), TIMEOUT_MESSAGE,
         REFUSAL_MESSAGE],
        "",
    )  # fmt: skip
    question = np.array(QUESTIONS, dtype=object)[rng.integers(0, len(QUESTIONS), size)]
    requests = np.where(is_model | is_root, question, np.where(is_tool, '{"query": "…"}', ""))
    responses = np.where(
        status_code == 0,
        np.where(is_tool, '{"results": 3}', "Done: summary and next steps attached."),
        "",
    )
    role_classes = [list(DATA_CLASSES_BY_ROLE[r]) for r in role_names]
    roles_of_span = agent_role[agent]
    data_classes = [
        role_classes[r] if m else []
        for r, m in zip(roles_of_span.tolist(), is_model.tolist(), strict=True)
    ]

    agent_ids = [a.id for a in agents]
    agent_text = [agent_ids[i] for i in agent.tolist()]
    tenant_text = [agents[i].tenant_id for i in agent.tolist()]
    department_text = [agents[i].department_id for i in agent.tolist()]
    site_text = [agents[i].site_id for i in agent.tolist()]
    node_text = [agents[i].edge_node_id for i in agent.tolist()]
    retention = [agents[i].retention_days for i in agent.tolist()]
    event_text = _uuid_texts(event_raw)
    trace_text = trace_hex[span_trace].astype(str).tolist()
    span_text = span_hex.astype(str).tolist()
    parent_text = np.where(is_root, b"", root_span).astype(str).tolist()
    content_text = content_hex.astype(str).tolist()
    starts = pa.array(start_us, type=pa.timestamp("us", tz="UTC"))
    ends_ts = pa.array(end_us, type=pa.timestamp("us", tz="UTC"))
    costs = _decimal_array(cost_nanos)

    spans = pa.table(
        {
            "tenant_id": tenant_text,
            "event_id": event_text,
            "trace_id": trace_text,
            "span_id": span_text,
            "parent_span_id": parent_text,
            "department_id": department_text,
            "agent_id": agent_text,
            "site_id": site_text,
            "edge_node_id": node_text,
            "kind": kinds.tolist(),
            "name": names.tolist(),
            "start_time": starts,
            "end_time": ends_ts,
            "status": statuses.tolist(),
            "status_message": messages.tolist(),
            "provider": providers.tolist(),
            "model": models.tolist(),
            "tool": tools.tolist(),
            "input_tokens": pa.array(input_tokens, type=pa.uint32()),
            "output_tokens": pa.array(output_tokens, type=pa.uint32()),
            # Seeded calls are priced as plain tokens: no cache or reasoning parts.
            "cached_input_tokens": pa.array(np.zeros(size, dtype=np.uint32)),
            "cache_write_tokens": pa.array(np.zeros(size, dtype=np.uint32)),
            "reasoning_tokens": pa.array(np.zeros(size, dtype=np.uint32)),
            "cost": costs,
            "data_classes": data_classes,
            "attributes": np.where(is_model, '{"gen_ai.operation.name": "chat"}', "{}").tolist(),
            "request_body": requests.tolist(),
            "response_body": responses.tolist(),
            "content_hash": content_text,
            "retention_days": pa.array(retention, type=pa.uint16()),
        },
        schema=SPANS_SCHEMA,
    )

    agent_bytes = [_uuid_of(a.id) for a in agents]
    tenant_bytes = [_uuid_of(a.tenant_id) for a in agents]
    department_bytes = [_uuid_of(a.department_id) for a in agents]
    site_bytes = [_uuid_of(a.site_id) for a in agents]
    node_bytes = [_uuid_of(a.edge_node_id) for a in agents]
    agent_list = agent.tolist()
    occurred = starts.to_pylist()
    cost_values = [Decimal(n).scaleb(-9) for n in cost_nanos.tolist()]
    ledger = list(
        zip(
            [bytes(row) for row in event_raw],
            occurred,
            [tenant_bytes[i] for i in agent_list],
            [department_bytes[i] for i in agent_list],
            [agent_bytes[i] for i in agent_list],
            [None] * size,
            [site_bytes[i] for i in agent_list],
            [node_bytes[i] for i in agent_list],
            trace_text,
            span_text,
            parent_text,
            kinds.tolist(),
            names.tolist(),
            providers.tolist(),
            models.tolist(),
            tools.tolist(),
            input_tokens.tolist(),
            output_tokens.tolist(),
            *(itertools.repeat(0, size) for _class in range(3)),
            cost_values,
            statuses.tolist(),
            ((end_us - start_us) / 1000).tolist(),
            content_text,
            strict=True,
        )
    )
    return Chunk(index=index, first_event_id=bytes(event_raw[0]), ledger=ledger, spans=spans)


def _uuid_of(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


def _decimal_array(nanos: np.ndarray) -> pa.Array:
    """Nano-dollars as Decimal(18, 9) without a Python object per value: a decimal128 is
    the scaled integer in 16 little-endian bytes."""
    words = np.zeros((len(nanos), 2), dtype=np.int64)
    words[:, 0] = nanos
    words[:, 1] = np.where(nanos < 0, -1, 0)
    return pa.Array.from_buffers(pa.decimal128(18, 9), len(nanos), [None, pa.py_buffer(words)])


# --- loading ----------------------------------------------------------------------------


def chunk_sizes(events: int) -> list[int]:
    return [min(CHUNK, events - start) for start in range(0, events, CHUNK)]


def _in_ledger(event_id: bytes) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM telemetry_usageevent WHERE event_id = %s)",
            [uuid.UUID(bytes=event_id)],
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def load_events(
    fleet: Fleet,
    *,
    events: int,
    days: int,
    seed: int,
    until: dt.datetime,
    progress: Callable[[int, int], None] | None = None,
    ledger: bool = True,
) -> SeedResult:
    """Load ``events`` events over the ``days`` before ``until`` into both stores
    (``ledger=False``: ClickHouse only, for dashboards at scales whose ledger would not
    fit the disk; a run again then relies on ClickHouse's insert deduplication).

    ``progress(done, skipped)`` is called after each chunk."""
    result = SeedResult()
    # The fleet's ids are in the token: the same seed over other tenants (a fresh
    # Postgres beside an old chDB) is other data, which ClickHouse must not drop.
    fleet_hash = hashlib.sha256("".join(a.id for a in fleet.agents).encode()).hexdigest()[:16]
    started = time.monotonic()
    for chunk in _chunks(fleet, events=events, days=days, seed=seed, until=until):
        with all_tenants_context():
            if ledger and _in_ledger(chunk.first_event_id):
                result.skipped += len(chunk.ledger)
            else:
                spans_insert(
                    chunk.spans, dedup_token=f"seed_events:{fleet_hash}:{seed}:{chunk.index}"
                )
                if ledger:
                    with transaction.atomic():
                        ledger_insert(chunk.ledger)
                result.loaded += len(chunk.ledger)
        if progress is not None:
            progress(result.loaded, result.skipped)
    result.seconds = time.monotonic() - started
    return result


def _chunks(
    fleet: Fleet, *, events: int, days: int, seed: int, until: dt.datetime
) -> Iterator[Chunk]:
    for index, size in enumerate(chunk_sizes(events)):
        yield generate_chunk(fleet, seed=seed, index=index, size=size, until=until, days=days)


def default_until(now: dt.datetime) -> dt.datetime:
    """The start of the current minute: the dashboards' last hour is full, and no event
    lies in the future."""
    return now.replace(second=0, microsecond=0)


def format_duration(seconds: float) -> str:
    seconds = max(math.ceil(seconds), 0)
    minutes, seconds = divmod(seconds, 60)
    return f"{minutes}m{seconds:02d}s" if minutes else f"{seconds}s"
