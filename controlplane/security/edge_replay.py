"""The edge fast path replayed over a scenario in event time, for the scorer
(controlplane/security/scoring.py): what the bundle's ``watch`` section of that moment
would have made an edge find, raised as production raises it.

- The watch section is learned (``profiles_learn``, the beat's hourly task) and built
  (``watch_section``, what the bundle carries) every ``refresh`` of event time, and read
  by the edge's own parser (``parse_watch``).
- Each span is rendered as an agent's SDK sends it (``scenario_otlp.otlp_span``), turned
  into the edge's record (``edge.otlp.span_record``) and checked by the edge's own
  ``Watch`` whose clock is the span's arrival (its end).
- The findings are pulled one pull interval after the first of them waits (the worst
  case of a pull every 5 s) and recorded by ``edge_findings_record``, as every pull
  does, so they dedupe with the detectors' alerts exactly as live.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from controlplane.agents.models import Agent, EdgeNode
from controlplane.core.tenancy import tenant_context
from controlplane.security.edge_findings import edge_findings_record
from controlplane.security.models import Alert
from controlplane.security.profiles import profiles_learn, watch_section
from controlplane.security.scenario_otlp import otlp_span
from controlplane.security.scenario_spans import SpanRow
from edge.auth import Principal
from edge.otlp import span_record
from edge.watch import AgentWatch, Watch, parse_watch

PULL = dt.timedelta(seconds=5)  # EDGE_PULL_INTERVAL_SECONDS's default


def arrival(row: SpanRow) -> dt.datetime:
    """When the edge receives a span: its SDK exports it when it ends."""
    return row.start + dt.timedelta(milliseconds=row.duration_ms)


@dataclass
class EdgeReplay:
    """One edge of a tenant, all its agents speaking to it."""

    tenant_id: uuid.UUID
    agents: Mapping[str, uuid.UUID]  # agent name → id
    now: float = 0.0
    pull_at: dt.datetime | None = None
    rules: Mapping[str, AgentWatch] = field(default_factory=dict)
    record_seconds: list[float] = field(default_factory=list)
    created: list[Alert] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.watch = Watch(clock=lambda: self.now)
        site_id = uuid.uuid5(self.tenant_id, "site")
        node_id = uuid.uuid5(self.tenant_id, "edge")
        self.node = EdgeNode(
            id=node_id, tenant_id=self.tenant_id, site_id=site_id, name="scenario edge"
        )
        self.principals = {
            name: Principal(
                tenant_id=str(self.tenant_id),
                agent_id=str(agent_id),
                department_id=None,
                device_id=None,
                site_id=str(site_id),
                edge_node_id=str(node_id),
            )
            for name, agent_id in self.agents.items()
        }

    def learn(self, moment: dt.datetime) -> None:
        """Learn the profiles at ``moment`` and take the watch section a bundle built
        then carries."""
        profiles_learn(tenant_id=self.tenant_id, now=moment)
        with tenant_context(self.tenant_id):
            section = watch_section(self.tenant_id, Agent.objects.all())
        self.rules = parse_watch({"watch": {"agents": section}})

    def feed(self, row: SpanRow) -> None:
        """The edge receives one span."""
        moment = arrival(row)
        self.now = moment.timestamp()
        record = span_record(
            otlp_span(row),
            {"service.name": row.agent},
            self.principals[row.agent],
            int(self.now * 1e9),
        )
        self.watch.check_span(self.rules, str(self.tenant_id), record)
        if self.pull_at is None and self.watch.pending()[1]:
            self.pull_at = moment + PULL

    def pull(self) -> None:
        """The control plane's pull at ``pull_at``: record the findings, acknowledge."""
        assert self.pull_at is not None
        self.now = self.pull_at.timestamp()
        findings, cursor = self.watch.pending()
        started = time.perf_counter()
        self.created += edge_findings_record(
            node=self.node, raw_findings=findings, now=self.pull_at
        )
        self.record_seconds.append(time.perf_counter() - started)
        self.watch.ack(cursor)
        self.pull_at = None
