"""A month of history for the demo tenants, so that a new demo has something to show.

``make run`` starts with the demo MSP's own agents; without a past, every chart was a
sliver at its right edge and there was no month to invoice or audit. This loads
``days`` of realistic traffic (office hours and weekends, several providers and
models, errors, timeouts, refusals and a provider incident: ``seeding.generate_chunk``)
for the demo tenants' real agents, edge nodes and departments, into both stores, ending
where the live traffic of the simulator begins. Like ``seed_events`` it is idempotent:
the event ids follow from the seed alone, so a second start adds nothing.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import orjson

from billing.pricing import PriceBook
from controlplane.agents.models import Agent, EdgeNode
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import build_batch
from controlplane.telemetry.seeding import (
    ROLES,
    Fleet,
    SeedAgent,
    SeedResult,
    _in_ledger,
    default_until,
    load_events,
    zipf_weights,
)
from controlplane.telemetry.spans import spans_insert
from tenants.models import Tenant

DEMO_HISTORY_SEED = 2026
DEMO_HISTORY_DAYS = 30
DEMO_HISTORY_EVENTS = 150_000


def demo_fleet(tenants: list[Tenant]) -> Fleet:
    """The seeding fleet of ``tenants``' own agents (those with a seeding role), each at
    its tenant's first edge node. Bigger tenants (more agents) get more traffic."""
    agents: list[SeedAgent] = []
    tenant_of_agent: list[int] = []
    for index, tenant in enumerate(tenants):
        with tenant_context(tenant):
            node = EdgeNode.objects.order_by("created_at").first()
            rows = list(Agent.objects.filter(role__in=list(ROLES)).order_by("name"))
        if node is None:
            continue
        for agent in rows:
            agents.append(
                SeedAgent(
                    id=str(agent.pk),
                    tenant_id=str(tenant.pk),
                    department_id=str(agent.department_id or uuid.UUID(int=0)),
                    site_id=str(node.site_id),
                    edge_node_id=str(node.pk),
                    role=agent.role,
                    retention_days=tenant.retention_days,
                )
            )
            tenant_of_agent.append(index)
    if not agents:
        raise ValueError("the demo tenants have no agents with an edge node yet (seed_demo)")
    owners = np.asarray(tenant_of_agent)
    sizes = np.bincount(owners, minlength=len(tenants)).astype(float)
    tenant_weights = sizes / sizes.sum()
    agent_weights = np.concatenate(
        [zipf_weights(int(n), 0.6) * tenant_weights[i] for i, n in enumerate(sizes) if n]
    )
    return Fleet(
        tenants=tenants,
        agents=agents,
        tenant_weights=tenant_weights,
        agent_weights=agent_weights / agent_weights.sum(),
        tenant_of_agent=owners,
    )


def load_demo_history(
    tenants: list[Tenant],
    *,
    days: int = DEMO_HISTORY_DAYS,
    events: int = DEMO_HISTORY_EVENTS,
    until: dt.datetime | None = None,
) -> SeedResult:
    """Load the demo's past into both stores; nothing when it is already there."""
    end = until or default_until(dt.datetime.now(dt.UTC))
    return load_events(
        demo_fleet(tenants), events=events, days=days, seed=DEMO_HISTORY_SEED, until=end
    )


# --- the edge gateway's own records, for the compliance pages ------------------------------
# The history above is agents' spans; the gateway's records of its content filter (prompt
# injections, personal data) and a few traces whose agent-side span never arrived come
# here, as the edges would have written them, each tenant's per its gateway policy
# (acme: injections blocked, personal data redacted; globex: personal data only flagged;
# initech: injections only flagged, personal data blocked).
DEMO_GATEWAY_NAMESPACE = uuid.UUID("3b6f0a52-6c1e-4d8f-9a57-2f4e8c1d7b90")
_NANOS = 1_000_000_000
_PII = "personal data: email x2, phone"
_INJECTION = (
    "prompt injection suspected (score 0.91): instruction_override "
    "'ignore all previous instructions' [in tool_result]"
)
_RESPONSE_PII = "personal data: email (already streamed to the agent)"


def _gateway_line(
    agent: Agent,
    node: EdgeNode,
    *,
    index: int,
    at: dt.datetime,
    verdicts: list[dict[str, str]],
    status: str = "ok",
    parent_span_id: str = "",
    data_classes: list[str] | None = None,
    kind: str = "model",
    tool: str = "",
) -> bytes:
    trace_id = uuid.uuid5(DEMO_GATEWAY_NAMESPACE, f"{agent.tenant_id}/trace/{index}").hex
    span_id = uuid.uuid5(DEMO_GATEWAY_NAMESPACE, f"{agent.tenant_id}/span/{index}").hex[:16]
    start = int(at.timestamp() * _NANOS)
    message = next((v["reason"] for v in verdicts if v["verdict"] == "block"), "")
    record = {
        "v": 1,
        "event_id": str(
            uuid.uuid5(DEMO_GATEWAY_NAMESPACE, f"{agent.tenant_id}/{trace_id}/{span_id}")
        ),
        "tenant_id": str(agent.tenant_id),
        "agent_id": str(agent.pk),
        "department_id": str(agent.department_id) if agent.department_id else None,
        "device_id": str(agent.device_id) if agent.device_id else None,
        "site_id": str(node.site_id),
        "edge_node_id": str(node.pk),
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent_span_id,
        "name": "execute_tool " + tool if kind == "tool" else "chat gpt-4o-mini",
        "kind": kind,
        "start_time_unix_nano": start,
        "end_time_unix_nano": start + 800_000_000,
        "status": status,
        "status_message": message,
        "provider": "" if kind == "tool" else "openai",
        "model": "" if kind == "tool" else "gpt-4o-mini",
        "tool": tool,
        "input_tokens": 0 if status == "refused" or kind == "tool" else 850,
        "output_tokens": 0 if status == "refused" or kind == "tool" else 120,
        "data_classes": data_classes or [],
        "request_body": "[redacted for the demo]",
        "response_body": "",
        "attributes": {"acp.gateway.route": "default", "acp.gateway.verdicts": verdicts},
        "received_at_unix_nano": start + 900_000_000,
    }
    return orjson.dumps(record)


def _verdict(code: str, verdict: str, reason: str) -> dict[str, str]:
    return {"stage": "content_filter", "verdict": verdict, "code": code, "reason": reason}


def demo_gateway_lines(tenant: Tenant, policy: dict[str, str], end: dt.datetime) -> list[bytes]:
    """The tenant's gateway records: personal data found six times in the last days,
    three injections, and per tenant what its policy makes of them."""
    with tenant_context(tenant):
        node = EdgeNode.objects.order_by("created_at").first()
        agents = list(Agent.objects.filter(role__in=list(ROLES)).order_by("name"))
    if node is None or not agents:
        return []
    lines: list[bytes] = []
    pii_verdict = policy.get("pii", "flag")
    for i in range(6):
        lines.append(
            _gateway_line(
                agents[i % len(agents)],
                node,
                index=i,
                at=end - dt.timedelta(hours=7 + 13 * i),
                verdicts=[_verdict("filter.pii", pii_verdict, _PII)],
                status="refused" if pii_verdict == "block" else "ok",
            )
        )
    injection = "block" if policy.get("injection", "block") == "block" else "flag"
    for i in range(6, 9):
        lines.append(
            _gateway_line(
                agents[i % len(agents)],
                node,
                index=i,
                at=end - dt.timedelta(hours=5 + 17 * (i - 6)),
                verdicts=[_verdict("filter.injection", injection, _INJECTION)],
                status="refused" if injection == "block" else "ok",
            )
        )
    if tenant.slug == "acme":
        # A streamed answer cannot be redacted in flight: its personal data went through.
        lines.append(
            _gateway_line(
                agents[0],
                node,
                index=9,
                at=end - dt.timedelta(hours=30),
                verdicts=[_verdict("filter.response_pii", "flag", _RESPONSE_PII)],
            )
        )
        # A support agent whose tool read finance data it is not cleared for.
        support = next((a for a in agents if a.role == "support"), agents[0])
        lines.append(
            _gateway_line(
                support,
                node,
                index=10,
                at=end - dt.timedelta(hours=26),
                verdicts=[],
                kind="tool",
                tool="ledger.query",
                data_classes=["finance"],
            )
        )
    # Two model calls whose agent-side span never arrived (the agent crashed mid-run).
    for i in (11, 12):
        lines.append(
            _gateway_line(
                agents[i % len(agents)],
                node,
                index=i,
                at=end - dt.timedelta(hours=3 + 2 * (i - 11)),
                verdicts=[],
                parent_span_id=uuid.uuid5(DEMO_GATEWAY_NAMESPACE, f"lost/{i}").hex[:16],
            )
        )
    return lines


def load_demo_gateway_records(
    tenants: list[Tenant], policies: dict[str, dict[str, str]], *, until: dt.datetime | None = None
) -> int:
    """Write the demo tenants' gateway records to both stores, as the pull worker does;
    nothing for a tenant whose records are there already. Returns the records written."""
    end = (until or dt.datetime.now(dt.UTC)).replace(minute=0, second=0, microsecond=0)
    written = 0
    prices = PriceBook.load()
    for tenant in tenants:
        lines = demo_gateway_lines(tenant, policies.get(tenant.slug, {}), end)
        if not lines:
            continue
        batch = build_batch(lines, prices=prices, retention_days={tenant.pk: tenant.retention_days})
        if _in_ledger(uuid.UUID(batch.spans["event_id"][0]).bytes):
            continue
        spans_insert(batch.spans, dedup_token=f"demo-gateway:{tenant.pk}")
        with all_tenants_context():
            ledger_insert(batch.ledger)
        written += len(batch.ledger)
    return written
