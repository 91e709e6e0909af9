"""An alert's evidence as a person reads it: what was observed against the baseline, in
sentences, Sentinel-style insights for a scope item (first time for this agent,
uncommon among its peers, uncommon in the tenant), the risk ledger of an escalation,
a small chart of a volume anomaly, and links to the traces of the anomaly's minutes and
to the data-flow diagram of its days."""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.utils.dateparse import parse_datetime

from controlplane.analytics import StoreError
from controlplane.security import queries
from controlplane.security.models import Alert
from controlplane.web.formatting import format_count
from controlplane.web.scope import Scope

logger = logging.getLogger(__name__)

TRACE_MARGIN = dt.timedelta(minutes=10)
CHART_BEFORE = dt.timedelta(minutes=60)
CHART_AFTER = dt.timedelta(minutes=10)
CHART_LONGEST = dt.timedelta(hours=6)
CHART_WIDTH, CHART_HEIGHT = 320.0, 80.0
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
METRIC_NAMES = {
    "tasks": "tasks",
    "tokens": "tokens",
    "returned_rows": "returned rows",
    "cost": "cost (USD)",
}


@dataclass(frozen=True)
class Link:
    label: str
    url: str


@dataclass(frozen=True)
class Chart:
    """Points of an SVG polyline in a CHART_WIDTH by CHART_HEIGHT box, the baseline's
    height and the alert's minutes as a band."""

    points: str
    baseline_y: float
    band_x: float
    band_width: float
    peak: str
    label: str
    width: float = CHART_WIDTH
    height: float = CHART_HEIGHT


@dataclass
class Evidence:
    alert: Alert
    agents: list[Link]  # each agent's page
    facts: list[str] = field(default_factory=list)
    items: list[dict[str, Any]] = field(default_factory=list)  # scope items with insights
    ledger: list[dict[str, Any]] = field(default_factory=list)  # escalation steps
    traces: list[Link] = field(default_factory=list)  # traces of the anomaly's minutes
    samples: list[Link] = field(default_factory=list)  # sample traces
    dataflow: str = ""
    chart: Chart | None = None
    chart_unavailable: bool = False


def _number(value: Any) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}" if abs(value) < 1000 else format_count(round(value))
    return format_count(value)


def _share(value: Any) -> str:
    return f"{float(value or 0) * 100:.0f} %"


def _time(value: Any) -> str:
    moment = parse_datetime(str(value)) if not isinstance(value, dt.datetime) else value
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else str(value)


def window_text(window: Mapping[str, Any] | None) -> str:
    """A configured operating window in words: ``Mon-Fri 07:00-20:00 Europe/Berlin``."""
    if not window:
        return "none configured (any time)"
    days = window.get("days", list(range(7)))
    if days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
        day_text = f"{DAYS[days[0]]}-{DAYS[days[-1]]}"
    else:
        day_text = ", ".join(DAYS[d] for d in days)
    start, end = window.get("start", "00:00"), window.get("end", "24:00")
    return f"{day_text} {start}-{end} {window.get('tz', 'UTC')}"


def _volume(evidence: dict[str, Any]) -> list[str]:
    metric = METRIC_NAMES.get(str(evidence.get("metric")), str(evidence.get("metric")))
    observed, median = _number(evidence.get("observed")), _number(evidence.get("baseline_median"))
    spread = (
        f"MAD {_number(evidence.get('baseline_mad'))}, "
        f"{evidence.get('baseline_samples', 0)} samples"
    )
    ratio, z = evidence.get("ratio"), evidence.get("robust_z")
    minutes = evidence.get("window_minutes")
    if evidence.get("measure") == "per_task":
        return [
            f"{metric.capitalize()} per task over {minutes} minutes "
            f"({_number(evidence.get('tasks'))} tasks): observed {observed}, this agent's "
            f"usual median {median} ({spread}).",
            f"{ratio}x its usual intensity (robust z {z}): each task does more, not more tasks.",
        ]
    return [
        f"{metric.capitalize()} in {minutes} minutes: observed {observed}; the baseline for "
        f"{evidence.get('hour_of_week', 'this hour')} (UTC) is a median of {median} ({spread}).",
        f"{ratio}x normal, robust z {z}.",
    ]


def _scope_items(evidence: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for entry in evidence.get("items", []):
        insights = []
        if entry.get("first_time_for_agent"):
            known = entry.get("known") or []
            before = f" (it used {', '.join(known[:8])} before)" if known else ""
            insights.append(f"First time for this agent{before}.")
        if entry.get("uncommon_among_peers"):
            insights.append(
                f"Uncommon among its peers: {_share(entry.get('peer_share'))} of its "
                f"{entry.get('peers')} peers (same role, else department) use it."
            )
        elif entry.get("peers"):
            insights.append(f"{_share(entry.get('peer_share'))} of its peers use it.")
        if entry.get("uncommon_in_tenant"):
            insights.append(
                f"Uncommon in the tenant: {_share(entry.get('tenant_share'))} of the other "
                "agents use it."
            )
        items.append(
            {
                "dimension": entry.get("dimension", ""),
                "item": entry.get("item", ""),
                "first_seen": _time(entry.get("first_seen")),
                "uses": _number(entry.get("uses_last_hour")),
                "rows": _number(entry.get("returned_rows_last_hour")),
                "insights": insights,
            }
        )
    return items


def _temporal(evidence: dict[str, Any]) -> list[str]:
    return [
        f"{_number(evidence.get('tasks_in_window'))} tasks in "
        f"{evidence.get('window_minutes')} minutes at {evidence.get('hour_of_week')} (UTC).",
        f"The agent worked at this hour of the week in "
        f"{evidence.get('weeks_active_in_this_hour')} of the last "
        f"{evidence.get('weeks_observed')} weeks.",
        f"Configured operating window: {window_text(evidence.get('configured_window'))}.",
    ]


def _escalation(evidence: dict[str, Any]) -> list[str]:
    return [
        f"{evidence.get('risk_points')} risk points within {evidence.get('window_days')} days "
        f"(alerting from {evidence.get('threshold')}): the agent moved step by step to more "
        "sensitive data, each step too small to alert on its own.",
    ]


def _coordination(evidence: dict[str, Any], names: dict[uuid.UUID, str]) -> list[str]:
    agents = [names.get(uuid.UUID(a), a[:8]) for a in evidence.get("agents", [])]
    site = " All on one site." if evidence.get("same_site") else ""
    if evidence.get("test") == "joint":
        each = ", ".join(
            f"{names.get(uuid.UUID(a['agent_id']), a['agent_id'][:8])} {a['tasks']:.0f} "
            f"(usually {a['usual']})"
            for a in evidence.get("per_agent", [])
        )
        return [
            f"{len(agents)} agents each a little busier in the same "
            f"{evidence.get('window_minutes')} minutes: {each} tasks.",
            f"Together {evidence.get('observed_tasks')} tasks where they usually do "
            f"{evidence.get('usual_tasks')} ({evidence.get('lift')}x, robust z "
            f"{evidence.get('robust_z')}), while the tenant's other agents were not lifted "
            f"alike (a tenant-wide change would not have alerted).{site}",
        ]
    return [
        f"{len(agents)} agents anomalous within {evidence.get('span_minutes')} minutes: "
        f"{', '.join(agents)}.",
        f"That is {_share(evidence.get('share_of_agents'))} of the tenant's agents "
        f"({evidence.get('active_agents')} active then); a tenant-wide change (from "
        f"{_share(evidence.get('tenant_wide_share'))}) would not have alerted.{site}",
    ]


def _facts(alert: Alert, names: dict[uuid.UUID, str]) -> list[str]:
    evidence: dict[str, Any] = alert.evidence or {}
    if alert.kind == "volume":
        return _volume(evidence)
    if alert.kind == "temporal":
        return _temporal(evidence)
    if alert.kind == "escalation":
        return _escalation(evidence)
    if alert.kind == "coordination":
        return _coordination(evidence, names)
    if evidence.get("learning"):
        return ["The agent is still learning: it is judged against its peers and the tenant."]
    return []


def _chart(scope: Scope, alert: Alert) -> Chart | None:
    """The metric of a volume (rate) alert, summed over its window each minute, around
    the alert's minutes, against the baseline median."""
    evidence: dict[str, Any] = alert.evidence or {}
    metric = str(evidence.get("metric") or "")
    if alert.kind != "volume" or evidence.get("measure") == "per_task" or not alert.agent_ids:
        return None
    window = int(evidence.get("window_minutes") or 10)
    until = alert.ended_at + CHART_AFTER
    since = max(alert.started_at - CHART_BEFORE, until - CHART_LONGEST)
    step = dt.timedelta(minutes=1)
    rows = queries.agent_minutes(scope.tenant.pk, since - window * step, until)
    per_minute = {
        row["minute"]: float(row.get(metric) or 0)
        for row in rows
        if row["agent_id"] == alert.agent_ids[0]
    }
    count = int((until - since) / step)
    sums = [
        sum(per_minute.get(since + (i - k) * step, 0.0) for k in range(window))
        for i in range(count)
    ]
    baseline = float(evidence.get("baseline_median") or 0)
    top = max([*sums, baseline, 1e-9]) * 1.1
    x_step = CHART_WIDTH / max(count - 1, 1)

    def y(value: float) -> float:
        return round(CHART_HEIGHT - value / top * CHART_HEIGHT, 1)

    band_start = max((alert.started_at - since) / step, 0) * x_step
    band_end = min((alert.ended_at - since) / step, count) * x_step
    name = METRIC_NAMES.get(metric, metric)
    return Chart(
        points=" ".join(f"{i * x_step:.1f},{y(v)}" for i, v in enumerate(sums)),
        baseline_y=y(baseline),
        band_x=round(band_start, 1),
        band_width=round(max(band_end - band_start, 2.0), 1),
        peak=_number(max(sums, default=0)),
        label=f"{name.capitalize()} per {window} minutes from {since:%H:%M} to {until:%H:%M} "
        f"UTC: peak {_number(max(sums, default=0))} against a baseline of {_number(baseline)}.",
    )


def _traces_url(scope: Scope, agent_id: uuid.UUID, since: dt.datetime, until: dt.datetime) -> str:
    query = {"since": since.isoformat(), "until": until.isoformat(), "agent": str(agent_id)}
    return f"{scope.url('traces')}?{urlencode(query)}"


def dataflow_url(scope: Scope, since: dt.datetime, until: dt.datetime, agent: str = "") -> str:
    query = {"since": f"{since:%Y-%m-%d}", "until": f"{until:%Y-%m-%d}", "agents": "each"}
    if agent:
        query["agent"] = agent
    return f"{scope.url('dataflow')}?{urlencode(query)}"


def evidence_of(
    scope: Scope, alert: Alert, names: dict[uuid.UUID, str], *, chart: bool = True
) -> Evidence:
    since, until = alert.started_at - TRACE_MARGIN, alert.ended_at + TRACE_MARGIN
    found = Evidence(
        alert=alert,
        agents=[
            Link(names.get(a, f"unknown agent {str(a)[:8]}"), scope.url("agent", a))
            for a in alert.agent_ids
        ],
        facts=_facts(alert, names),
        items=_scope_items(alert.evidence or {}) if alert.kind == "scope" else [],
        ledger=[
            {**step, "first_seen": _time(step.get("first_seen"))}
            for step in (alert.evidence or {}).get("ledger", [])
        ],
        traces=[
            Link(names.get(a, str(a)[:8]), _traces_url(scope, a, since, until))
            for a in alert.agent_ids
        ],
        dataflow=dataflow_url(
            scope,
            alert.started_at,
            alert.ended_at,
            str(alert.agent_ids[0]) if len(alert.agent_ids) == 1 else "",
        ),
    )
    for sample in (alert.evidence or {}).get("sample_traces", []):
        agent = names.get(uuid.UUID(str(sample.get("agent_id"))), "")
        found.samples.append(
            Link(
                f"{_time(sample.get('started_at'))} {agent}".strip(),
                scope.url("trace", sample.get("trace_id")),
            )
        )
    if chart:
        try:
            found.chart = _chart(scope, alert)
        except StoreError:
            logger.exception("security chart of alert %s failed", alert.pk)
            found.chart_unavailable = True
    return found
