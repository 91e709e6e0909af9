"""What each agent's edges check in-process (edge/watch.py), learned from its baselines.

For every agent past its learning period: the scope items it used in the last 90 days
per dimension (tool, collection, classification, provider/model, outside host), less
those named by an alert that is not a false positive, plus what a false positive taught
and what its configuration allows; and ceilings of tokens and returned rows a minute,
CEILING_HEADROOM times its busiest minute of the last five weeks (never below a floor);
and its working hours: the hours of the week of its learned operating window (worked in
two of the last five weeks, learned.py), the hours next to them, and its configured
window, when at least REGULAR_SHARE of its tasks of those weeks fell in them (else none:
a month-end agent's hours are not checked). Agents still learning get no profile: their
edges check nothing for them.

``profiles_learn`` runs hourly (beat) and raises the config version of the tenant's
sites when a profile changed, so the next pull pushes the new bundle; its ``watch``
section is ``watch_section``. Each agent's mode (flag or refuse) is the gateway policy's
``scope_enforcement``: its role's default, else the tenant's.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.utils import timezone

from controlplane.agents.models import Agent
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import Policy, RoleDefault, ScopeEnforcement
from controlplane.gateway.services import bump_sites
from controlplane.security import queries
from controlplane.security.alerts import alerted_scope
from controlplane.security.baselines import HISTORY_WEEKS, WEEK, hour_of_week
from controlplane.security.learned import configured_hours, learned_hours
from controlplane.security.models import (
    AcceptedBehaviour,
    Alert,
    EdgeProfile,
    Kind,
    SecuritySettings,
    State,
)

DIMENSIONS = ("tool", "collection", "classification", "model", "host")
SCOPE_HISTORY = dt.timedelta(days=90)
CEILING_HEADROOM = 3
MIN_TOKENS_PER_MINUTE = 10_000
MIN_ROWS_PER_MINUTE = 1_000
REGULAR_SHARE = 0.95


def _ceiling(peak: float | None, floor: int) -> int | None:
    if peak is None:
        return None
    return max(int(peak * CEILING_HEADROOM), floor)


def learned_profiles(tenant_id: uuid.UUID, now: dt.datetime) -> dict[uuid.UUID, dict[str, Any]]:
    """Each learned agent's allow-sets and ceilings (caller holds the tenant's context)."""
    config = SecuritySettings.objects.filter(tenant_id=tenant_id).first()
    learning = dt.timedelta(days=config.learning_days if config else 14)
    first = queries.first_activity(tenant_id, now)
    learned = {agent for agent, at in first.items() if at <= now - learning}
    if not learned:
        return {}
    alerted: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    scope_kinds = (Kind.SCOPE, Kind.ESCALATION)
    for alert in Alert.objects.filter(kind__in=scope_kinds).exclude(state=State.FALSE_POSITIVE):
        for agent_id in alert.agent_ids:
            alerted[agent_id].update(alerted_scope(alert))
    known: dict[uuid.UUID, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for row in queries.scope_history(tenant_id, now - SCOPE_HISTORY, now):
        key = (row["dimension"], row["item"])
        if row["dimension"] in DIMENSIONS and key not in alerted[row["agent_id"]]:
            known[row["agent_id"]][row["dimension"]].add(row["item"])
    for accepted in AcceptedBehaviour.objects.filter(level__isnull=True):
        if accepted.dimension in DIMENSIONS:
            known[accepted.agent_id][accepted.dimension].add(accepted.item)
    defaults = {d.role: d for d in RoleDefault.objects.all()}
    windows = {}
    for agent in Agent.objects.filter(pk__in=learned):
        default = defaults.get(agent.role)
        known[agent.pk]["tool"].update(agent.tools or (default.allowed_tools if default else []))
        known[agent.pk]["classification"].update(
            agent.data_classes or (default.data_classes if default else [])
        )
        windows[agent.pk] = agent.operating_window or (default.operating_window if default else {})
    peaks = queries.agent_peaks(tenant_id, now - HISTORY_WEEKS * WEEK, now)
    hours = working_hours(queries.agent_hours(tenant_id, now - HISTORY_WEEKS * WEEK, now))
    profiles = {}
    for agent_id in learned:
        peak = peaks.get(agent_id, {})
        configured = configured_hours(windows.get(agent_id), now) or frozenset()
        regular = hours.get(agent_id)
        profiles[agent_id] = {
            "allow": {d: sorted(known[agent_id].get(d, set())) for d in DIMENSIONS},
            "max_tokens_per_minute": _ceiling(peak.get("tokens"), MIN_TOKENS_PER_MINUTE),
            "max_rows_per_minute": _ceiling(peak.get("returned_rows"), MIN_ROWS_PER_MINUTE),
            "hours": sorted(regular | configured) if regular is not None else None,
        }
    return profiles


def working_hours(rows: Iterable[dict[str, Any]]) -> dict[uuid.UUID, frozenset[int] | None]:
    """Per agent, its learned hours of the week and the hours next to them (work that
    runs over the edge of its usual hours is not unusual); None when fewer than
    REGULAR_SHARE of its tasks fell in them."""
    rows = list(rows)
    learned = learned_hours(rows)
    tasks: dict[uuid.UUID, list[float]] = defaultdict(lambda: [0.0, 0.0])
    result: dict[uuid.UUID, frozenset[int] | None] = {}
    for agent_id, worked in learned.items():
        result[agent_id] = frozenset((hour + step) % 168 for hour in worked for step in (-1, 0, 1))
    for row in rows:
        counts = tasks[row["agent_id"]]
        counts[0] += float(row.get("tasks") or 0)
        if hour_of_week(row["hour"]) in (result.get(row["agent_id"]) or ()):
            counts[1] += float(row.get("tasks") or 0)
    for agent_id, (total, inside) in tasks.items():
        if not total or inside / total < REGULAR_SHARE:
            result[agent_id] = None
    return result


def profiles_learn(*, tenant_id: uuid.UUID, now: dt.datetime | None = None) -> int:
    """Store the tenant's learned profiles; when any changed, raise its sites' config
    version (the next pull pushes them). Returns how many changed."""
    now = now or timezone.now()
    with tenant_context(tenant_id):
        learned = learned_profiles(tenant_id, now)
        stored = {p.agent_id: p for p in EdgeProfile.objects.all()}
        changed = 0
        for agent_id, profile in learned.items():
            current = stored.pop(agent_id, None)
            if current is not None and all(
                getattr(current, name) == value for name, value in profile.items()
            ):
                continue
            EdgeProfile.objects.update_or_create(
                tenant_id=tenant_id, agent_id=agent_id, defaults={**profile, "learned_at": now}
            )
            changed += 1
        if stored:
            EdgeProfile.objects.filter(pk__in=[p.pk for p in stored.values()]).delete()
            changed += len(stored)
        if changed:
            bump_sites(tenant_id=tenant_id)
    return changed


def watch_section(tenant_id: uuid.UUID, agents: Iterable[Agent]) -> list[dict[str, Any]]:
    """The bundle's ``watch`` entries of these agents (caller holds the tenant's
    context): the learned profile and the mode of each agent that has one."""
    agents = list(agents)
    profiles = {
        p.agent_id: p for p in EdgeProfile.objects.filter(agent_id__in=[a.pk for a in agents])
    }
    if not profiles:
        return []
    policy = Policy.objects.filter(tenant_id=tenant_id).first()
    tenant_mode = policy.scope_enforcement if policy else ScopeEnforcement.FLAG
    roles = dict(RoleDefault.objects.values_list("role", "scope_enforcement"))
    section = []
    for agent in sorted(agents, key=lambda a: str(a.pk)):
        profile = profiles.get(agent.pk)
        if profile is None:
            continue
        section.append(
            {
                "agent_id": str(agent.pk),
                "mode": roles.get(agent.role) or tenant_mode,
                "allow": profile.allow,
                "max_tokens_per_minute": profile.max_tokens_per_minute,
                "max_rows_per_minute": profile.max_rows_per_minute,
                "hours": profile.hours,
            }
        )
    return section
