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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from controlplane.security.baselines import FLOORS
from controlplane.security.coordination import coordination_marks, joint_lifts
from controlplane.security.minutes import (
    INTENSITY_WINDOW,
    MINUTE,
    SHORT_WINDOW,
    WINDOW,
    AgentInfo,
    Context,
    Finding,
    MinuteWindow,
    VolumeSignal,
    hour_label,
    is_learned,
    minute_windows,
)

INTENSITY_MIN_TASKS = 5
MERGE_GAP = dt.timedelta(minutes=15)

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


# --- volume and intensity ---------------------------------------------------------------


def _volume_signals(
    context: Context, windows: dict[uuid.UUID, dict[dt.datetime, MinuteWindow]]
) -> list[VolumeSignal]:
    z_limit, ratio_limit = VOLUME_THRESHOLDS[context.sensitivity]
    signals = []
    for agent_id, by_minute in windows.items():
        history = context.histories.get(agent_id)
        if history is None or not is_learned(context, agent_id):
            continue
        accepted = context.accepted_levels.get(agent_id, {})
        intensity = {m: history.per_task(m) for m in ("tokens", "returned_rows")}
        cache: dict[tuple[dt.datetime, str], Any] = {}
        for minute, window in by_minute.items():
            hour = minute.replace(minute=0)
            # A window that began in the previous hour is held to the busier of the two.
            hours = {hour, (minute - (WINDOW - 1) * MINUTE).replace(minute=0)}
            best: VolumeSignal | None = None
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
                candidate = VolumeSignal(
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
                        "hour_of_week": hour_label(hour),
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
                        best = VolumeSignal(
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
    context: Context, windows: dict[uuid.UUID, dict[dt.datetime, MinuteWindow]]
) -> list[Finding]:
    findings = []
    for agent_id, by_minute in windows.items():
        history = context.histories.get(agent_id)
        if history is None or not is_learned(context, agent_id):
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
                        "hour_of_week": hour_label(hour),
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
        learned = is_learned(context, agent_id)
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
        if history is None or history.first_seen is None or not is_learned(context, agent_id):
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


def merge_items(into: dict[str, Any], evidence: Mapping[str, Any]) -> bool:
    """Add a scope finding's new items to another's (each item once), and to an item
    both name what only the new one says (the detectors' flags and shares enrich what the
    edge saw first). Returns whether ``into`` changed."""
    known = {(i["dimension"], i["item"]): i for i in into.get("items", [])}
    changed = False
    for entry in evidence.get("items", []):
        current = known.get((entry["dimension"], entry["item"]))
        if current is None:
            into.setdefault("items", []).append(entry)
            changed = True
        elif entry.keys() - current.keys():
            current.update({k: v for k, v in entry.items() if k not in current})
            changed = True
    return changed


def _rank(severity: str) -> int:
    return {"low": 0, "medium": 1, "high": 2, "critical": 3}[severity]


def detect(context: Context) -> list[Finding]:
    windows = minute_windows(context)
    index = _scope_index(context)
    signals = _volume_signals(context, windows)
    temporal = _temporal(context, windows)
    scope = _scope(context, index)
    joint, joint_wide, lifts = joint_lifts(context, windows, signals)
    coordination, tenant_wide = coordination_marks(
        context, signals, temporal + scope, windows, lifts
    )
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
