"""Running the detectors, the change calendar and each tenant's security settings.

``detection_run`` judges a tenant's closed minutes since its cursor: minutes that every
edge node of the tenant has been pulled past (a window still receiving data is never
judged), at most ``MAX_CHUNK`` at a time. Alerts are written by
controlplane/security/alerts.py, which makes a re-run raise nothing new.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from controlplane.agents.models import Agent, EdgeNode
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.crypto import key_ring
from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import RoleDefault
from controlplane.security import history, queries
from controlplane.security.alerts import alerted_scope, alerts_record
from controlplane.security.baselines import HISTORY_WEEKS, WEEK, histories
from controlplane.security.detectors import detect
from controlplane.security.minutes import INTENSITY_WINDOW, AgentInfo, Context, Finding, Suppression
from controlplane.security.models import (
    AcceptedBehaviour,
    Alert,
    DetectionCursor,
    Kind,
    MaintenanceWindow,
    SecuritySettings,
    State,
)
from tenants.models import Tenant

MINUTE = dt.timedelta(minutes=1)
# A minute is judged once every edge node has been pulled this long after it (spans are
# recorded when they end) and, for tenants without edges (imported history), this long
# after it by the clock.
LATENESS = dt.timedelta(minutes=1)
FIRST_LOOKBACK = dt.timedelta(hours=1)
STALE_NODE = dt.timedelta(minutes=10)
MAX_CHUNK = dt.timedelta(hours=6)
SCOPE_HISTORY = dt.timedelta(days=90)
SCOPE_RECENT = dt.timedelta(hours=1)
MAX_FRESH = dt.timedelta(minutes=15)  # open minutes a fresh pass judges at most


@dataclass(frozen=True)
class RunResult:
    since: dt.datetime | None
    until: dt.datetime | None
    findings: int = 0
    created: int = 0


def settings_for(tenant_id: uuid.UUID) -> SecuritySettings:
    """The tenant's settings, or the defaults (unsaved) when it has none."""
    found = SecuritySettings.objects.filter(tenant_id=tenant_id).first()
    return found or SecuritySettings(tenant_id=tenant_id)


def closed_until(tenant_id: uuid.UUID, now: dt.datetime) -> dt.datetime:
    """The end of the last minute no more data can arrive for: every live edge node of
    the tenant (pulled within STALE_NODE) has been pulled past it. A node that is down
    does not hold every other site's detection back; what it sends later than that is
    not judged for volume or time (docs/security.md, "Late data")."""
    limit = now - LATENESS
    pulls = EdgeNode.objects.filter(
        tenant_id=tenant_id, last_success_at__gte=now - STALE_NODE
    ).values_list("last_success_at", flat=True)
    for pulled_at in pulls:
        if pulled_at is not None:
            limit = min(limit, pulled_at - LATENESS)
    return limit.replace(second=0, microsecond=0)


def _agent_infos(tenant_id: uuid.UUID) -> dict[uuid.UUID, AgentInfo]:
    defaults = {d.role: d for d in RoleDefault.objects.all()}
    infos = {}
    # Values, not model instances: a run reads every agent of the tenant each minute.
    for agent_id, role, department_id, tools, classes, window in Agent.objects.values_list(
        "pk", "role", "department_id", "tools", "data_classes", "operating_window"
    ):
        default = defaults.get(role)
        tools = tools or (default.allowed_tools if default else [])
        classes = classes or (default.data_classes if default else [])
        window = window or (default.operating_window if default else {})
        infos[agent_id] = AgentInfo(
            role=role,
            department_id=department_id,
            allowed={"tool": frozenset(tools), "classification": frozenset(classes)},
            window=window or None,
        )
    return infos


def build_context(
    tenant_id: uuid.UUID,
    since: dt.datetime,
    until: dt.datetime,
    *,
    agents: Mapping[uuid.UUID, AgentInfo] | None = None,
) -> Context:
    """Everything the detectors need for one tenant's minutes [since, until). The
    caller holds the tenant's context."""
    settings = settings_for(tenant_id)
    excluded: dict[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    alerted_items: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    history_start = since - HISTORY_WEEKS * WEEK - dt.timedelta(days=2)
    for alert in Alert.objects.exclude(state=State.FALSE_POSITIVE).filter(
        ended_at__gte=history_start
    ):
        for agent_id in alert.agent_ids:
            if alert.kind in (Kind.SCOPE, Kind.ESCALATION):
                alerted_items[agent_id].update(alerted_scope(alert))
            else:
                excluded[agent_id].append((alert.started_at, alert.ended_at))
    accepted_items: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    accepted_levels: dict[uuid.UUID, dict[str, float]] = defaultdict(dict)
    for accepted in AcceptedBehaviour.objects.all():
        if accepted.level is not None:
            levels = accepted_levels[accepted.agent_id]
            levels[accepted.dimension] = max(levels.get(accepted.dimension, 0.0), accepted.level)
        else:
            accepted_items[accepted.agent_id].add((accepted.dimension, accepted.item))
    suppressions = [
        Suppression(
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            agent_ids=frozenset(w.agent_ids),
            kinds=frozenset(w.kinds),
        )
        for w in MaintenanceWindow.objects.filter(ends_at__gt=since, starts_at__lt=until)
    ]
    minutes = queries.agent_minutes(tenant_id, since - INTENSITY_WINDOW * MINUTE, until)
    past_hours, recent_hours = history.agent_hours(tenant_id, history_start, since, minutes)
    scope_history, scope_recent = history.scope(
        tenant_id,
        since,
        until,
        history_from=since - SCOPE_HISTORY,
        recent_from=since - SCOPE_RECENT,
    )
    return Context(
        tenant_id=tenant_id,
        since=since,
        until=until,
        minutes=minutes,
        histories=histories(
            recent_hours, history.first_activity(tenant_id, until, minutes), excluded, past_hours
        ),
        scope_history=scope_history,
        scope_recent=scope_recent,
        agents=dict(agents) if agents is not None else _agent_infos(tenant_id),
        sensitivity=settings.sensitivity,
        learning_days=settings.learning_days,
        suppressions=suppressions,
        accepted_items=dict(accepted_items),
        accepted_levels=dict(accepted_levels),
        alerted_items=dict(alerted_items),
    )


def detection_run(
    *,
    tenant_id: uuid.UUID,
    now: dt.datetime | None = None,
    until: dt.datetime | None = None,
    agents: Mapping[uuid.UUID, AgentInfo] | None = None,
    fresh: bool = False,
) -> RunResult:
    """Judge the tenant's closed minutes after its cursor and record the findings.
    ``until`` (a replay, the scenario kit) overrides the closed-window rule. ``fresh``
    (after a pull) also judges the minutes still open, up to ``now``, for what more
    data can only strengthen (``raised_fresh``), without moving the cursor."""
    now = now or timezone.now()
    with tenant_context(tenant_id):
        cursor = DetectionCursor.objects.select_for_update().filter(tenant_id=tenant_id).first()
        end = until if until is not None else closed_until(tenant_id, now)
        since = cursor.judged_until if cursor else end - FIRST_LOOKBACK
        end = max(min(end, since + MAX_CHUNK), since)
        open_until = now.replace(second=0, microsecond=0) + MINUTE
        fresh = fresh and end < open_until and open_until - end <= MAX_FRESH
        judged_until = open_until if fresh else end
        if since >= judged_until:
            return RunResult(since=None, until=None)
        # One read for both: the closed minutes, then the open ones (fresh).
        findings: list[Finding] = detect(
            build_context(tenant_id, since, judged_until, agents=agents)
        )
        findings = [f for f in findings if f.detected_at <= end or raised_fresh(f.kind, f.evidence)]
        created = alerts_record(tenant_id=tenant_id, findings=findings, now=now)
        if since < end:
            if cursor is None:
                DetectionCursor.objects.create(tenant_id=tenant_id, judged_until=end)
            else:
                cursor.judged_until = end
                cursor.save(update_fields=["judged_until", "updated_at"])
    return RunResult(since=since, until=end, findings=len(findings), created=len(created))


def raised_fresh(kind: str, evidence: Mapping[str, Any]) -> bool:
    """Whether a finding on minutes still receiving data can be raised: one that more
    data of the same minutes can only strengthen (rates over a baseline, new scope items,
    work outside the usual hours, escalation steps), and coordination, whose comparison
    with the tenant's other agents is made on the same minutes of every agent (the open
    minute is one of the ten or thirty judged, and a site's agents arrive by the same
    pulls). Per-task intensity (a ratio more tasks can lower) waits for closed minutes."""
    if kind == Kind.VOLUME:
        return evidence.get("measure") == "rate"
    return kind in (Kind.SCOPE, Kind.TEMPORAL, Kind.ESCALATION, Kind.COORDINATION)


def detection_rewind(*, tenant_id: uuid.UUID, to: dt.datetime) -> None:
    """Judge again from ``to`` (a replay): alerts already raised are not raised twice."""
    with tenant_context(tenant_id):
        DetectionCursor.objects.filter(tenant_id=tenant_id).update(judged_until=to)


def tenants_to_judge() -> list[uuid.UUID]:
    return list(Tenant.objects.values_list("pk", flat=True))


# --- settings ------------------------------------------------------------------------------------


def security_settings_update(
    *, actor: Actor, tenant: Tenant, webhook_secret: str | None = None, **changes: Any
) -> SecuritySettings:
    allowed = set(SecuritySettings.AUDIT_FIELDS)
    unknown = set(changes) - allowed
    if unknown:
        raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
    with tenant_context(tenant):
        current, _ = SecuritySettings.objects.get_or_create(tenant=tenant)
        before = snapshot(current)
        for name, value in changes.items():
            setattr(current, name, value)
        if webhook_secret is not None:
            current.webhook_secret_enc = (
                key_ring().encrypt(webhook_secret) if webhook_secret else ""
            )
        current.full_clean(exclude=["tenant"])
        current.save()
        audit_record(
            actor=actor,
            action="security.settings_changed",
            target=current,
            tenant_id=tenant.pk,
            before=before,
            after=snapshot(current),
        )
    return current


def webhook_secret(settings: SecuritySettings) -> str:
    return key_ring().decrypt(settings.webhook_secret_enc) if settings.webhook_secret_enc else ""


# --- the change calendar --------------------------------------------------------------------------


def maintenance_window_create(
    *,
    actor: Actor,
    tenant: Tenant,
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str = MaintenanceWindow.Reason.MAINTENANCE,
    agent_ids: Iterable[uuid.UUID] = (),
    kinds: Iterable[str] = (),
) -> MaintenanceWindow:
    with tenant_context(tenant):
        agents = sorted(set(agent_ids))
        known = set(Agent.objects.filter(pk__in=agents).values_list("pk", flat=True))
        if set(agents) - known:
            raise ValidationError({"agent_ids": "Give agents of this tenant."})
        window = MaintenanceWindow(
            tenant=tenant,
            title=title,
            reason=reason,
            starts_at=starts_at,
            ends_at=ends_at,
            agent_ids=agents,
            kinds=sorted(set(kinds)),
        )
        if ends_at <= starts_at:
            raise ValidationError({"ends_at": "Give an end after the start."})
        window.full_clean(exclude=["tenant"])
        window.save()
        audit_record(
            actor=actor,
            action="security.maintenance_window_created",
            target=window,
            tenant_id=tenant.pk,
            after=snapshot(window),
        )
    return window


def maintenance_window_delete(*, actor: Actor, window: MaintenanceWindow) -> None:
    with tenant_context(window.tenant_id):
        audit_record(
            actor=actor,
            action="security.maintenance_window_deleted",
            target=window,
            tenant_id=window.tenant_id,
            before=snapshot(window),
        )
        window.delete()


def calendar_load(
    *, actor: Actor, tenant: Tenant, document: str | bytes
) -> list[MaintenanceWindow]:
    """Windows from a JSON change calendar: ``[{"title", "starts_at", "ends_at",
    "reason"?, "agents"?: [names or ids], "kinds"?: [...]}]``. All or nothing; errors
    name the entry and field."""
    try:
        entries = json.loads(document)
    except ValueError as exc:
        raise ValidationError(f"not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise ValidationError("the calendar must be a JSON list of windows")
    with tenant_context(tenant), transaction.atomic():
        by_name = {a.name: a.pk for a in Agent.objects.all()}
        by_id = {str(pk): pk for pk in by_name.values()}
        created = []
        for position, entry in enumerate(entries):
            where = f"entry {position}"
            if not isinstance(entry, dict):
                raise ValidationError(f"{where}: must be an object")
            times = {}
            for field in ("starts_at", "ends_at"):
                parsed = parse_datetime(str(entry.get(field, "")))
                if parsed is None or parsed.tzinfo is None:
                    raise ValidationError(f"{where}: {field} must be an ISO time with a zone")
                times[field] = parsed
            agents = []
            for name in entry.get("agents", []):
                agent_id = by_name.get(name) or by_id.get(str(name))
                if agent_id is None:
                    raise ValidationError(f"{where}: agents: no agent {name!r} in this tenant")
                agents.append(agent_id)
            try:
                created.append(
                    maintenance_window_create(
                        actor=actor,
                        tenant=tenant,
                        title=str(entry.get("title") or "")[:200],
                        reason=str(entry.get("reason") or MaintenanceWindow.Reason.MAINTENANCE),
                        agent_ids=agents,
                        kinds=entry.get("kinds", []),
                        **times,
                    )
                )
            except ValidationError as exc:
                raise ValidationError(f"{where}: {'; '.join(exc.messages)}") from None
    return created
