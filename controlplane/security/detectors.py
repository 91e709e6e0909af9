"""The five detectors, as pure functions of what controlplane/security/queries.py reads.

``detect(context)`` judges every closed minute of ``[since, until)`` of one tenant and
returns findings; controlplane/security/services.py turns them into alerts (extending an
alert that is still running rather than raising a second one). Each detector judges a
minute on the ten minutes ending with it, so a finding names the first minute at which
the evidence was enough: its event-time detection point.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controlplane.security.baselines import FLOORS, MAD_TO_SIGMA, AgentHistory, Robust

MINUTE = dt.timedelta(minutes=1)
WINDOW = 10  # minutes: the sliding window every detector judges
SHORT_WINDOW = 3  # minutes: a blatant flood is raised on it, before the long window fills
INTENSITY_WINDOW = 60  # minutes: per-task intensity needs a few tasks to be stable
INTENSITY_MIN_TASKS = 5
MERGE_GAP = dt.timedelta(minutes=15)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Sensitivity → (robust z, ratio to the baseline) a volume window must both exceed.
VOLUME_THRESHOLDS = {"low": (9.0, 5.0), "medium": (6.0, 3.0), "high": (4.0, 2.0)}
# Sensitivity → risk points over RISK_DAYS that raise an escalation alert.
RISK_THRESHOLDS = {"low": 30, "medium": 20, "high": 15}
RISK_DAYS = 30
# Classifications from least to most sensitive (docs/security.md).
CLASSIFICATION_RANK = {
    "public": 0,
    "internal": 1,
    "source_code": 1,
    "pii": 2,
    "customer_pii": 2,
    "finance": 3,
    "hr": 3,
    "health": 4,
}
SENSITIVE = 3
UNCOMMON_SHARE = 0.2  # used by fewer than this share of peers / tenant agents: uncommon
SCOPE_MIN_USES = 3
SCOPE_MIN_ROWS = 500
TEMPORAL_MIN_TASKS = 3
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


@dataclass(frozen=True)
class AgentInfo:
    role: str = ""
    department_id: uuid.UUID | None = None
    allowed: Mapping[str, frozenset[str]] = field(default_factory=dict)  # dimension → items
    window: Mapping[str, Any] | None = None  # configured operating window


@dataclass(frozen=True)
class Suppression:
    starts_at: dt.datetime
    ends_at: dt.datetime
    agent_ids: frozenset[uuid.UUID]
    kinds: frozenset[str]

    def covers(self, kind: str, agent_ids: Iterable[uuid.UUID], moment: dt.datetime) -> bool:
        if not (self.starts_at <= moment < self.ends_at):
            return False
        if self.kinds and kind not in self.kinds:
            return False
        return not self.agent_ids or set(agent_ids) <= self.agent_ids


@dataclass
class Context:
    tenant_id: uuid.UUID
    since: dt.datetime
    until: dt.datetime
    minutes: list[dict[str, Any]]  # agent_minutes over [since - WINDOW, until)
    histories: dict[uuid.UUID, AgentHistory]
    scope_history: list[dict[str, Any]]  # before since
    scope_recent: list[dict[str, Any]]  # scope_minutes over [since - 1 h, until)
    agents: dict[uuid.UUID, AgentInfo]
    sensitivity: str = "medium"
    learning_days: int = 14
    suppressions: list[Suppression] = field(default_factory=list)
    accepted_items: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)
    accepted_levels: dict[uuid.UUID, dict[str, float]] = field(default_factory=dict)
    alerted_items: dict[uuid.UUID, set[tuple[str, str]]] = field(default_factory=dict)


@dataclass
class Finding:
    kind: str
    subject: str  # what the alert is about; with the start, its dedup key
    agent_ids: list[uuid.UUID]
    site_id: uuid.UUID | None
    started_at: dt.datetime
    detected_at: dt.datetime  # end of the minute whose window was enough
    ended_at: dt.datetime
    severity: str
    title: str
    evidence: dict[str, Any]
    score: float = 0.0


@dataclass
class _Window:
    """Sliding sums per agent: ten minutes (rate), sixty minutes (intensity)."""

    sums: dict[str, float]
    short_sums: dict[str, float]
    hour_sums: dict[str, float]
    site_id: uuid.UUID | None


def _minute_range(since: dt.datetime, until: dt.datetime) -> list[dt.datetime]:
    count = int((until - since) / MINUTE)
    return [since + i * MINUTE for i in range(count)]


def _label(moment: dt.datetime) -> str:
    return f"{WEEKDAYS[moment.weekday()]} {moment.hour:02d}:00"


def _windows(context: Context) -> dict[uuid.UUID, dict[dt.datetime, _Window]]:
    """Per agent and judged minute: the metrics summed over the ten (three, sixty)
    minutes ending there, from running sums; minutes with no data in their last ten
    minutes are left out."""
    by_agent: dict[uuid.UUID, dict[dt.datetime, dict[str, Any]]] = defaultdict(dict)
    for row in context.minutes:
        by_agent[row["agent_id"]][row["minute"]] = row
    first = context.since - (INTENSITY_WINDOW - 1) * MINUTE
    span = _minute_range(first, context.until)
    offset = INTENSITY_WINDOW - 1  # index of context.since in span
    metrics = ("tasks", "tokens", "returned_rows", "cost", "errors", "model_calls")
    result: dict[uuid.UUID, dict[dt.datetime, _Window]] = {}
    for agent_id, rows in by_agent.items():
        # running[i] = totals of span[:i]; present[i] = minutes with data in span[:i]
        running = [[0.0] * len(metrics)]
        present = [0]
        sites: list[uuid.UUID | None] = []
        site: uuid.UUID | None = None
        for minute in span:
            found = rows.get(minute)
            totals = running[-1]
            if found is None:
                running.append(totals)
                present.append(present[-1])
            else:
                running.append([t + float(found[m]) for t, m in zip(totals, metrics, strict=True)])
                present.append(present[-1] + 1)
                site = found["site_id"]
            sites.append(site)

        windows: dict[dt.datetime, _Window] = {}
        for index in range(offset, len(span)):
            end = index + 1
            if present[end] == present[max(end - WINDOW, 0)]:
                continue
            windows[span[index]] = _Window(
                sums=_difference(metrics, running, end, WINDOW),
                short_sums=_difference(metrics, running, end, SHORT_WINDOW),
                hour_sums=_difference(metrics, running, end, INTENSITY_WINDOW),
                site_id=sites[index],
            )
        result[agent_id] = windows
    return result


def _difference(
    metrics: tuple[str, ...], running: list[list[float]], end: int, minutes: int
) -> dict[str, float]:
    """Totals of the ``minutes`` minutes before index ``end`` from running sums."""
    low = running[max(end - minutes, 0)]
    return {m: high - lo for m, high, lo in zip(metrics, running[end], low, strict=True)}


def _learned(context: Context, agent_id: uuid.UUID) -> bool:
    history = context.histories.get(agent_id)
    if history is None or history.first_seen is None:
        return False
    return history.first_seen <= context.since - dt.timedelta(days=context.learning_days)


# --- volume and intensity ---------------------------------------------------------------


@dataclass
class _Signal:
    agent_id: uuid.UUID
    minute: dt.datetime
    ratio: float
    z: float
    strong: bool
    evidence: dict[str, Any]


def _volume_signals(
    context: Context, windows: dict[uuid.UUID, dict[dt.datetime, _Window]]
) -> list[_Signal]:
    z_limit, ratio_limit = VOLUME_THRESHOLDS[context.sensitivity]
    signals = []
    for agent_id, by_minute in windows.items():
        history = context.histories.get(agent_id)
        if history is None or not _learned(context, agent_id):
            continue
        accepted = context.accepted_levels.get(agent_id, {})
        intensity = {m: history.per_task(m) for m in ("tokens", "returned_rows")}
        cache: dict[tuple[dt.datetime, str], Any] = {}
        for minute, window in by_minute.items():
            hour = minute.replace(minute=0)
            # A window that began in the previous hour is held to the busier of the two.
            hours = {hour, (minute - (WINDOW - 1) * MINUTE).replace(minute=0)}
            best: _Signal | None = None
            for metric, floor in FLOORS.items():
                observed = window.sums[metric]
                if observed <= floor:
                    continue
                for key in ((h, metric) for h in hours):
                    if key not in cache:
                        cache[key] = history.volume(key[0], metric)
                base = max((cache[(h, metric)] for h in hours), key=lambda b: b.median)
                if base.samples < 3:
                    continue
                expected = max(base.median, floor, accepted.get(metric, 0.0))
                ratio = observed / expected
                z = (observed - base.median) / base.scale(floor)
                # The last SHORT_WINDOW minutes against the same baseline scaled down: a
                # flood three times as far over the ratio is raised before ten minutes
                # fill. Its floor is not scaled down: a few minutes of a quiet agent are
                # too noisy to judge.
                share = SHORT_WINDOW / WINDOW
                short_expected = max(base.median * share, floor / 2, accepted.get(metric, 0.0))
                short_ratio = window.short_sums[metric] / short_expected
                short_z = (window.short_sums[metric] - base.median * share) / (
                    base.scale(floor) * share**0.5
                )
                if (
                    short_ratio >= 3 * ratio_limit
                    and short_z >= z_limit
                    and not (z >= z_limit and ratio >= ratio_limit)
                ):
                    observed, ratio, z = window.short_sums[metric], short_ratio, short_z
                    window_minutes = SHORT_WINDOW
                else:
                    window_minutes = WINDOW
                candidate = _Signal(
                    agent_id,
                    minute,
                    ratio,
                    z,
                    strong=z >= z_limit and ratio >= ratio_limit,
                    evidence={
                        "metric": metric,
                        "measure": "rate",
                        "window_minutes": window_minutes,
                        "observed": round(observed, 4),
                        "baseline_median": round(base.median, 4),
                        "baseline_mad": round(base.mad, 4),
                        "baseline_samples": base.samples,
                        "ratio": round(ratio, 2),
                        "robust_z": round(z, 2),
                        "hour_of_week": _label(hour),
                    },
                )
                if best is None or (candidate.strong, candidate.z) > (best.strong, best.z):
                    best = candidate
            tasks = window.hour_sums["tasks"]
            if tasks >= INTENSITY_MIN_TASKS:
                for metric, base in intensity.items():
                    if base.samples < 10:
                        continue
                    per_task = window.hour_sums[metric] / tasks
                    floor = FLOORS[metric] / 10
                    expected = max(base.median, floor)
                    ratio = per_task / expected
                    z = (per_task - base.median) / base.scale(floor)
                    strong = z >= z_limit and ratio >= ratio_limit
                    if strong and (best is None or not best.strong or z > best.z):
                        best = _Signal(
                            agent_id,
                            minute,
                            ratio,
                            z,
                            strong=True,
                            evidence={
                                "metric": metric,
                                "measure": "per_task",
                                "window_minutes": INTENSITY_WINDOW,
                                "tasks": tasks,
                                "observed": round(per_task, 4),
                                "baseline_median": round(base.median, 4),
                                "baseline_mad": round(base.mad, 4),
                                "baseline_samples": base.samples,
                                "ratio": round(ratio, 2),
                                "robust_z": round(z, 2),
                            },
                        )
            if best is not None and (best.strong or (best.z >= z_limit / 2 and best.ratio >= 1.8)):
                signals.append(best)
    return signals


def _volume_severity(evidence: Mapping[str, Any]) -> str:
    ratio = float(evidence["ratio"])
    if evidence["metric"] == "returned_rows" and ratio >= 20:
        return "critical"
    return "high" if ratio >= 8 else "medium"


# --- temporal ---------------------------------------------------------------------------


def in_configured_window(window: Mapping[str, Any] | None, moment: dt.datetime) -> bool:
    """Whether the gateway policy's operating window is open at ``moment`` (UTC windows;
    other zones are converted with zoneinfo)."""
    if not window:
        return False
    from zoneinfo import ZoneInfo

    local = moment.astimezone(ZoneInfo(str(window.get("tz") or "UTC")))
    days = window.get("days")
    if days is not None and local.weekday() not in days:
        return False
    start = str(window.get("start") or "00:00")
    end = str(window.get("end") or "24:00")
    now = f"{local.hour:02d}:{local.minute:02d}"
    return start <= now < end if end != "00:00" else start <= now


def _temporal(
    context: Context, windows: dict[uuid.UUID, dict[dt.datetime, _Window]]
) -> list[Finding]:
    findings = []
    for agent_id, by_minute in windows.items():
        history = context.histories.get(agent_id)
        if history is None or not _learned(context, agent_id):
            continue
        info = context.agents.get(agent_id, AgentInfo())
        shares: dict[dt.datetime, tuple[int, int, bool]] = {}
        for minute, window in by_minute.items():
            if window.sums["tasks"] < TEMPORAL_MIN_TASKS:
                continue
            hour = minute.replace(minute=0)
            if hour not in shares:
                shares[hour] = history.active_share(hour)
            active, possible, month_end = shares[hour]
            if possible < 2 or active >= 2 or active / possible >= 0.25 or month_end:
                continue
            if in_configured_window(info.window, minute):
                continue
            findings.append(
                Finding(
                    kind="temporal",
                    subject=f"temporal:{agent_id}",
                    agent_ids=[agent_id],
                    site_id=window.site_id,
                    started_at=minute - (WINDOW - 1) * MINUTE,
                    detected_at=minute + MINUTE,
                    ended_at=minute + MINUTE,
                    severity="high" if window.sums["tasks"] >= 30 else "medium",
                    title="Activity outside the agent's operating window",
                    evidence={
                        "hour_of_week": _label(hour),
                        "weeks_active_in_this_hour": active,
                        "weeks_observed": possible,
                        "tasks_in_window": window.sums["tasks"],
                        "window_minutes": WINDOW,
                        "configured_window": dict(info.window) if info.window else None,
                    },
                    score=window.sums["tasks"],
                )
            )
    return findings


# --- scope and escalation -----------------------------------------------------------------


@dataclass
class _ScopeIndex:
    items: dict[uuid.UUID, dict[tuple[str, str], dict[str, Any]]]
    users: dict[tuple[str, str], set[uuid.UUID]]


def _scope_index(context: Context) -> _ScopeIndex:
    items: dict[uuid.UUID, dict[tuple[str, str], dict[str, Any]]] = defaultdict(dict)
    users: dict[tuple[str, str], set[uuid.UUID]] = defaultdict(set)
    for row in context.scope_history:
        key = (row["dimension"], row["item"])
        if key in context.alerted_items.get(row["agent_id"], set()):
            continue  # an alerted, unresolved item never becomes normal
        items[row["agent_id"]][key] = row
        users[key].add(row["agent_id"])
    return _ScopeIndex(items=items, users=users)


def _peers(context: Context, agent_id: uuid.UUID) -> set[uuid.UUID]:
    info = context.agents.get(agent_id, AgentInfo())
    if not info.role and info.department_id is None:
        return set()
    return {
        other
        for other, other_info in context.agents.items()
        if other != agent_id
        and (
            (info.role and other_info.role == info.role)
            or (not info.role and other_info.department_id == info.department_id)
        )
    }


def _flags(
    context: Context, index: _ScopeIndex, agent_id: uuid.UUID, key: tuple[str, str]
) -> dict[str, Any]:
    """Sentinel-style insight flags of one item for one agent."""
    users = index.users.get(key, set()) - {agent_id}
    peers = _peers(context, agent_id)
    others = set(context.agents) - {agent_id}
    peer_share = len(users & peers) / len(peers) if peers else None
    tenant_share = len(users & others) / len(others) if others else 0.0
    return {
        "first_time_for_agent": key not in index.items.get(agent_id, {}),
        "uncommon_among_peers": peer_share is not None and peer_share < UNCOMMON_SHARE,
        "uncommon_in_tenant": tenant_share < UNCOMMON_SHARE,
        "peer_share": None if peer_share is None else round(peer_share, 2),
        "tenant_share": round(tenant_share, 2),
        "peers": len(peers),
    }


def _scope(context: Context, index: _ScopeIndex) -> list[Finding]:
    """One finding per agent and minute, listing each item of its scope that is new for
    it, used more than once or in bulk, and uncommon among its peers (or, without
    peers, in the tenant); items in its configured allow-set were adopted on purpose."""
    by_moment: dict[tuple[uuid.UUID, dt.datetime], Finding] = {}
    judged_from = context.since
    running: dict[tuple[uuid.UUID, tuple[str, str]], dict[str, float]] = defaultdict(
        lambda: {"uses": 0.0, "returned_rows": 0.0}
    )
    flags_cache: dict[tuple[uuid.UUID, tuple[str, str]], dict[str, Any]] = {}
    raised: set[tuple[uuid.UUID, tuple[str, str]]] = set()
    for row in context.scope_recent:
        agent_id = row["agent_id"]
        key = (row["dimension"], row["item"])
        if key in index.items.get(agent_id, {}):
            continue
        if key in context.accepted_items.get(agent_id, set()):
            continue
        info = context.agents.get(agent_id, AgentInfo())
        if row["item"] in info.allowed.get(row["dimension"], frozenset()):
            continue  # adopted on purpose: in the agent's configured allow-set
        tally = running[(agent_id, key)]
        tally["uses"] += float(row["uses"])
        tally["returned_rows"] += float(row["returned_rows"])
        minute = row["minute"]
        if minute < judged_from or (agent_id, key) in raised:
            continue
        if tally["uses"] < SCOPE_MIN_USES and tally["returned_rows"] < SCOPE_MIN_ROWS:
            continue
        if (agent_id, key) not in flags_cache:
            flags_cache[(agent_id, key)] = _flags(context, index, agent_id, key)
        flags = flags_cache[(agent_id, key)]
        learned = _learned(context, agent_id)
        unusual = flags["uncommon_among_peers"] or (
            flags["peers"] == 0 and flags["uncommon_in_tenant"]
        )
        if not learned:  # still learning: judged against its peers and the tenant only
            unusual = flags["uncommon_among_peers"] and flags["uncommon_in_tenant"]
        if not unusual:
            continue
        raised.add((agent_id, key))
        dimension, item = key
        rank = CLASSIFICATION_RANK.get(item, 2) if dimension == "classification" else 0
        severity = "medium"
        if rank >= SENSITIVE or tally["returned_rows"] >= 5000:
            severity = "high"
        if rank >= SENSITIVE and tally["returned_rows"] >= 5000:
            severity = "critical"
        entry = {
            "dimension": dimension,
            "item": item,
            "first_seen": minute.isoformat(),
            "uses_last_hour": tally["uses"],
            "returned_rows_last_hour": tally["returned_rows"],
            "known": sorted(i for d, i in index.items.get(agent_id, {}) if d == dimension),
            **flags,
        }
        found = by_moment.get((agent_id, minute))
        if found is None:
            by_moment[(agent_id, minute)] = Finding(
                kind="scope",
                subject=f"scope:{agent_id}",
                agent_ids=[agent_id],
                site_id=None,
                started_at=minute,
                detected_at=minute + MINUTE,
                ended_at=minute + MINUTE,
                severity=severity,
                title=f"New {dimension} for this agent: {item}",
                evidence={"learning": not learned, "items": [entry]},
                score=tally["uses"],
            )
            continue
        found.evidence["items"].append(entry)
        found.severity = max(found.severity, severity, key=_rank)
        found.title = f"{len(found.evidence['items'])} new items for this agent"
    return list(by_moment.values())


def _escalation(context: Context, index: _ScopeIndex) -> list[Finding]:
    """The risk ledger: each classification an agent adopts after its learning period
    that is more sensitive than any before it adds points; enough points within
    RISK_DAYS is a trajectory, even if no single step was unusual enough to alert."""
    threshold = RISK_THRESHOLDS[context.sensitivity]
    first_use: dict[uuid.UUID, dict[str, dt.datetime]] = defaultdict(dict)
    for row in context.scope_history:
        if row["dimension"] == "classification":
            first_use[row["agent_id"]][row["item"]] = row["first_seen"]
    for row in context.scope_recent:
        if row["dimension"] == "classification":
            seen = first_use[row["agent_id"]]
            if row["item"] not in seen or row["minute"] < seen[row["item"]]:
                seen[row["item"]] = row["minute"]
    findings = []
    for agent_id, uses in first_use.items():
        history = context.histories.get(agent_id)
        if history is None or history.first_seen is None or not _learned(context, agent_id):
            continue
        established_until = history.first_seen + dt.timedelta(days=context.learning_days)
        accepted = {
            item for d, item in context.accepted_items.get(agent_id, set()) if d == "classification"
        }
        level = max(
            (
                CLASSIFICATION_RANK.get(item, 2)
                for item, at in uses.items()
                if at < established_until or item in accepted
            ),
            default=0,
        )
        ledger: list[dict[str, Any]] = []
        for item, at in sorted(uses.items(), key=lambda pair: pair[1]):
            rank = CLASSIFICATION_RANK.get(item, 2)
            if at < established_until or item in accepted or rank <= level:
                continue
            points = 10 * (rank - level)
            flags = _flags(context, index, agent_id, ("classification", item))
            if flags["uncommon_among_peers"]:
                points += 5
            if flags["uncommon_in_tenant"]:
                points += 5
            level = rank
            ledger.append({"classification": item, "first_seen": at, "points": points})
        for position, step in enumerate(ledger):
            at = step["first_seen"]
            if not (context.since <= at < context.until):
                continue
            window = [
                s
                for s in ledger[: position + 1]
                if at - s["first_seen"] <= dt.timedelta(days=RISK_DAYS)
            ]
            total = sum(s["points"] for s in window)
            if len(window) < 2 or total < threshold:
                continue
            minute = at.replace(second=0, microsecond=0)
            findings.append(
                Finding(
                    kind="escalation",
                    subject=f"escalation:{agent_id}:{step['classification']}",
                    agent_ids=[agent_id],
                    site_id=None,
                    started_at=window[0]["first_seen"],
                    detected_at=minute + MINUTE,
                    ended_at=minute + MINUTE,
                    severity="critical"
                    if CLASSIFICATION_RANK.get(step["classification"], 2) >= 4
                    else "high",
                    title="Access drifting toward more sensitive data: now "
                    + step["classification"],
                    evidence={
                        "risk_points": total,
                        "threshold": threshold,
                        "window_days": RISK_DAYS,
                        "ledger": [
                            {**s, "first_seen": s["first_seen"].isoformat()} for s in window
                        ],
                    },
                    score=total,
                )
            )
    return findings


# --- coordination --------------------------------------------------------------------------


def _coordination(
    context: Context,
    signals: list[_Signal],
    other: list[Finding],
    windows: dict[uuid.UUID, dict[dt.datetime, _Window]],
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
    for minute in _minute_range(context.since, context.until):
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


def _joint(
    context: Context,
    windows: dict[uuid.UUID, dict[dt.datetime, _Window]],
    signals: list[_Signal],
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
    span = _minute_range(context.since - (JOINT_WINDOW - 1) * MINUTE, context.until)
    running: dict[uuid.UUID, list[float]] = {}
    for agent_id in context.histories:
        if not _learned(context, agent_id):
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
    for index, minute in enumerate(_minute_range(context.since, context.until)):
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


def _merge(findings: list[Finding]) -> list[Finding]:
    """Consecutive findings of one subject (within MERGE_GAP) as one, spanning them all."""
    merged: dict[str, Finding] = {}
    result = []
    for finding in sorted(findings, key=lambda f: (f.detected_at, f.subject)):
        current = merged.get(finding.subject)
        if current is not None and finding.started_at - current.ended_at <= MERGE_GAP:
            current.ended_at = max(current.ended_at, finding.ended_at)
            current.agent_ids = sorted(set(current.agent_ids) | set(finding.agent_ids))
            if finding.kind == "scope":
                merge_items(current.evidence, finding.evidence)
                current.title = f"{len(current.evidence['items'])} new items for this agent"
                current.severity = max(current.severity, finding.severity, key=_rank)
                continue
            if finding.score > current.score:
                current.evidence, current.score = finding.evidence, finding.score
                current.severity = max(current.severity, finding.severity, key=_rank)
            continue
        merged[finding.subject] = finding
        result.append(finding)
    return result


def merge_items(into: dict[str, Any], evidence: Mapping[str, Any]) -> None:
    """Add a scope finding's new items to another's (each item once)."""
    known = {(i["dimension"], i["item"]) for i in into.get("items", [])}
    for entry in evidence.get("items", []):
        if (entry["dimension"], entry["item"]) not in known:
            into.setdefault("items", []).append(entry)


def _rank(severity: str) -> int:
    return {"low": 0, "medium": 1, "high": 2, "critical": 3}[severity]


def detect(context: Context) -> list[Finding]:
    windows = _windows(context)
    index = _scope_index(context)
    signals = _volume_signals(context, windows)
    temporal = _temporal(context, windows)
    scope = _scope(context, index)
    joint, joint_wide, lifts = _joint(context, windows, signals)
    coordination, tenant_wide = _coordination(context, signals, temporal + scope, windows, lifts)
    coordination += joint
    tenant_wide |= joint_wide
    volume = [
        Finding(
            kind="volume",
            subject=f"volume:{s.agent_id}",
            agent_ids=[s.agent_id],
            site_id=windows[s.agent_id][s.minute].site_id,
            started_at=s.minute - (WINDOW - 1) * MINUTE,
            detected_at=s.minute + MINUTE,
            ended_at=s.minute + MINUTE,
            severity=_volume_severity(s.evidence),
            title=(
                f"{s.evidence['metric'].replace('_', ' ')} per task {s.evidence['ratio']}x normal"
                if s.evidence["measure"] == "per_task"
                else f"{s.evidence['metric'].replace('_', ' ')} {s.evidence['ratio']}x normal"
            ),
            evidence=s.evidence,
            score=s.z,
        )
        for s in signals
        if s.strong and s.minute not in tenant_wide
    ]
    findings = _merge(volume + temporal + scope + coordination) + _escalation(context, index)
    return [
        f
        for f in findings
        if not any(
            w.covers(f.kind, f.agent_ids, f.detected_at - MINUTE) for w in context.suppressions
        )
    ]
