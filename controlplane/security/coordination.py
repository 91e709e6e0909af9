"""Coordination: several agents of one tenant anomalous at once (the marks of agents with
an anomaly of their own), or each a little busier together (the joint test, decision
0041), told apart from a tenant-wide change by the tenant's other agents."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from controlplane.security.baselines import MAD_TO_SIGMA, Robust
from controlplane.security.minutes import (
    MINUTE,
    Context,
    Finding,
    MinuteWindow,
    VolumeSignal,
    is_learned,
    minute_range,
)

COORDINATION_MIN_AGENTS = 3
COORDINATION_SPAN = dt.timedelta(minutes=5)
TENANT_WIDE_SHARE = 0.6
# The joint test of small lifts (docs/security.md): over JOINT_WINDOW minutes, the lifted
# agents' tasks together at least JOINT_LIFT times what those agents usually do then.
JOINT_WINDOW = 30
JOINT_LIFT = 1.8
JOINT_MIN_AGENTS = 2  # lifted together: fewer agents than the marks need, each lifted less
JOINT_MIN_USUAL = 3.0  # tasks an agent usually does in the window: fewer are too noisy to judge
JOINT_Z = {"low": 8.0, "medium": 6.0, "high": 5.0}  # by sensitivity
AGENT_LIFT = 1.5  # an agent counts as lifted from this ratio and robust z on its own
AGENT_Z = 2.0
ALIKE_Z = 1.5  # ... and as somewhat lifted (1.2x) in the test for a tenant-wide change
REST_Z = 2.0  # the other agents together this much busier (and 1.2x): tenant-wide


def coordination_marks(
    context: Context,
    signals: list[VolumeSignal],
    other: list[Finding],
    windows: dict[uuid.UUID, dict[dt.datetime, MinuteWindow]],
    lifts: dict[dt.datetime, list[_Lift]],
) -> tuple[list[Finding], set[dt.datetime]]:
    """Findings of several agents turning anomalous within minutes of each other, and the
    minutes at which most active agents lifted together (a tenant-wide change, also
    when the joint test's comparison with the tenant's other agents says so)."""
    marks: list[tuple[dt.datetime, uuid.UUID, float]] = [
        (s.minute, s.agent_id, s.ratio) for s in signals
    ]
    marks += [(f.detected_at - MINUTE, a, 0.0) for f in other for a in f.agent_ids]
    findings: list[Finding] = []
    tenant_wide: set[dt.datetime] = set()
    population = set(context.agents) | set(windows)
    for minute in minute_range(context.since, context.until):
        recent = {a for at, a, _ in marks if minute - COORDINATION_SPAN < at <= minute}
        if len(recent) < COORDINATION_MIN_AGENTS:
            continue
        active = {a for a, by_minute in windows.items() if minute in by_minute} | recent
        # A tenant-wide change lifts most of the tenant's agents, not most of the few
        # awake at night: the share is of every agent the tenant has.
        share = len(recent) / len(population | active)
        here = lifts.get(minute, [])
        marked = [x for x in here if x.agent_id in recent]
        if share >= TENANT_WIDE_SHARE and len(population | active) >= COORDINATION_MIN_AGENTS + 1:
            tenant_wide.add(minute)
            continue
        if len(marked) >= COORDINATION_MIN_AGENTS and _tenant_wide(here, marked, len(population)):
            continue  # not coordination; each agent's own alerts stand
        agents = sorted(recent)
        sites = {
            windows[a][minute].site_id for a in agents if a in windows and minute in windows[a]
        }
        findings.append(
            Finding(
                kind="coordination",
                subject=f"coordination:{context.tenant_id}",
                agent_ids=agents,
                site_id=next(iter(sites)) if len(sites) == 1 else None,
                started_at=min(
                    at
                    for at, a, _ in marks
                    if a in recent and minute - COORDINATION_SPAN < at <= minute
                ),
                detected_at=minute + MINUTE,
                ended_at=minute + MINUTE,
                severity="high" if len(agents) >= 4 else "medium",
                title=f"{len(agents)} agents anomalous within minutes of each other",
                evidence={
                    "agents": [str(a) for a in agents],
                    "active_agents": len(active),
                    "share_of_agents": round(share, 2),
                    "tenant_wide_share": TENANT_WIDE_SHARE,
                    "span_minutes": int(COORDINATION_SPAN / MINUTE),
                    "same_site": len(sites) == 1,
                },
                score=len(agents),
            )
        )
    return findings, tenant_wide


@dataclass
class _Lift:
    agent_id: uuid.UUID
    observed: float  # tasks in the window
    expected: float  # the agent's usual tasks in those minutes (never below noise)
    variance: float


def _usual_tasks(
    hourly: Callable[[dt.datetime], Robust], minute: dt.datetime, window: int
) -> tuple[float, float]:
    """(usual tasks, their variance) in the ``window`` minutes ending with ``minute``,
    from the hour-of-week totals of the hours they fall in."""
    hour = minute.replace(minute=0)
    this_hour = min(window, minute.minute + 1)
    expected = variance = 0.0
    for start, minutes in ((hour, this_hour), (hour - dt.timedelta(hours=1), window - this_hour)):
        if minutes:
            base = hourly(start)
            share = minutes / 60
            expected += base.median * share
            variance += (base.mad * MAD_TO_SIGMA * share) ** 2
    return expected, variance + expected  # weekly spread and Poisson noise


def _z(lifts: Iterable[_Lift]) -> tuple[float, float]:
    """(lift, robust z) of the summed tasks of ``lifts`` over their usual."""
    observed = expected = variance = 0.0
    for x in lifts:
        observed, expected, variance = (
            observed + x.observed,
            expected + x.expected,
            variance + x.variance,
        )
    if not expected:
        return 1.0, 0.0
    return observed / expected, (observed - expected) / variance**0.5


def _tenant_wide(lifts: list[_Lift], lifted: list[_Lift], agents: int) -> bool:
    """Whether the lifted agents are part of a change of the whole tenant (three agents
    at least): at least half of the tenant's agents (asleep ones count as not lifted)
    are lifted a third as much as they are, relative to their own usual level; or with
    the agents also somewhat busier (a robust z of 1.5 and 1.2x) they are 60% of its
    agents; or the other agents working now are together busier too."""
    lift, _ = _z(lifted)
    if lift < 1.2:
        return False
    names = {x.agent_id for x in lifted}
    third = 1 + (lift - 1) / 3
    alike = sum(1 for x in lifts if x.expected >= 3 and x.observed >= third * x.expected)
    somewhat = names | {
        x.agent_id
        for x in lifts
        if x.observed >= 1.2 * x.expected and (x.observed - x.expected) / x.variance**0.5 >= ALIKE_Z
    }
    rest_lift, rest_z = _z(x for x in lifts if x.agent_id not in names)
    return (
        alike >= max(agents / 2, COORDINATION_MIN_AGENTS)
        or len(somewhat) >= max(agents * TENANT_WIDE_SHARE, COORDINATION_MIN_AGENTS)
        or (rest_z >= REST_Z and rest_lift >= 1.2)
    )


def joint_lifts(
    context: Context,
    windows: dict[uuid.UUID, dict[dt.datetime, MinuteWindow]],
    signals: list[VolumeSignal],
) -> tuple[list[Finding], set[dt.datetime], dict[dt.datetime, list[_Lift]]]:
    """The joint test: several agents each a little busier than usual in the same minutes,
    together far busier than those agents usually are (a robust z over their summed
    tasks), also without the busiest of them, while the tenant's other agents are not
    lifted alike (``_tenant_wide``). Returns its findings and, per minute judged, each
    agent's tasks against its usual (for the other coordination test's comparison), and
    the minutes it judged tenant-wide (their volume findings are not raised)."""
    counts: dict[uuid.UUID, dict[dt.datetime, float]] = defaultdict(dict)
    for row in context.minutes:
        counts[row["agent_id"]][row["minute"]] = float(row["tasks"])
    span = minute_range(context.since - (JOINT_WINDOW - 1) * MINUTE, context.until)
    running: dict[uuid.UUID, list[float]] = {}
    for agent_id in context.histories:
        if not is_learned(context, agent_id):
            continue
        totals = [0.0]
        for minute in span:
            totals.append(totals[-1] + counts[agent_id].get(minute, 0.0))
        running[agent_id] = totals
    z_limit = JOINT_Z[context.sensitivity]
    population = set(context.agents) | set(windows)
    rates: dict[tuple[uuid.UUID, dt.datetime], Robust] = {}

    def hourly(agent_id: uuid.UUID) -> Callable[[dt.datetime], Robust]:
        def rate(hour: dt.datetime) -> Robust:
            if (agent_id, hour) not in rates:
                rates[(agent_id, hour)] = context.histories[agent_id].hourly(hour, "tasks")
            return rates[(agent_id, hour)]

        return rate

    findings: list[Finding] = []
    tenant_wide: set[dt.datetime] = set()
    by_minute: dict[dt.datetime, list[_Lift]] = {}
    # Small lifts only: an agent whose own window is a volume anomaly is alerted as one.
    flooding = {(s.agent_id, s.minute) for s in signals if s.strong}
    for index, minute in enumerate(minute_range(context.since, context.until)):
        end = index + JOINT_WINDOW  # position after ``minute`` in the running sums
        lifts = []
        for agent_id, totals in running.items():
            expected, variance = _usual_tasks(hourly(agent_id), minute, JOINT_WINDOW)
            observed = totals[end] - totals[end - JOINT_WINDOW]
            if expected or observed:
                floor = 0.05 * JOINT_WINDOW  # half a task per ten minutes
                lifts.append(_Lift(agent_id, observed, max(expected, floor), max(variance, floor)))
        by_minute[minute] = lifts
        lifted = [
            x
            for x in lifts
            if (x.agent_id, minute) not in flooding
            and x.expected >= JOINT_MIN_USUAL
            and x.observed >= AGENT_LIFT * x.expected
            and (x.observed - x.expected) / x.variance**0.5 >= AGENT_Z
        ]
        if len(lifted) < JOINT_MIN_AGENTS:
            continue
        lift, z = _z(lifted)
        if lift < JOINT_LIFT or z < z_limit:
            continue
        # Not one agent's flood with others in tow: without the busiest, still lifted.
        busiest = max(lifted, key=lambda x: x.observed - x.expected)
        others_lift, others_z = _z(x for x in lifted if x is not busiest)
        if others_lift < JOINT_LIFT or others_z < z_limit / 2:
            continue
        if _tenant_wide(lifts, lifted, len(population)):
            tenant_wide.add(minute)
            continue
        agents = sorted(x.agent_id for x in lifted)
        sites = {windows[a][minute].site_id for a in agents if minute in windows.get(a, {})}
        findings.append(
            Finding(
                kind="coordination",
                subject=f"coordination:{context.tenant_id}",
                agent_ids=agents,
                site_id=next(iter(sites)) if len(sites) == 1 else None,
                started_at=minute - (JOINT_WINDOW - 1) * MINUTE,
                detected_at=minute + MINUTE,
                ended_at=minute + MINUTE,
                severity="high" if len(agents) >= 4 or lift >= 4 else "medium",
                title=f"{len(agents)} agents busier together ({lift:.1f}x their usual tasks)",
                evidence={
                    "test": "joint",
                    "agents": [str(a) for a in agents],
                    "window_minutes": JOINT_WINDOW,
                    "observed_tasks": sum(x.observed for x in lifted),
                    "usual_tasks": round(sum(x.expected for x in lifted), 1),
                    "lift": round(lift, 2),
                    "robust_z": round(z, 2),
                    "per_agent": [
                        {
                            "agent_id": str(x.agent_id),
                            "tasks": x.observed,
                            "usual": round(x.expected, 1),
                        }
                        for x in lifted
                    ],
                    "agents_of_tenant": len(population),
                    "tenant_wide_share": TENANT_WIDE_SHARE,
                    "same_site": len(sites) == 1,
                },
                score=z,
            )
        )
    return findings, tenant_wide, by_minute


# --- all together -----------------------------------------------------------------------------
