"""What an edge's security fast path found (edge/watch.py), raised as alerts.

At every pull (and every fast push of a bundle) the control plane reads the edge's
pending findings, records them as alerts of the node's tenant and only then acknowledges
them: a lost acknowledgement repeats findings that ``alerts_record`` extends rather than
raising twice. An item outside an agent's learned scope becomes a ``scope`` alert naming
the item and why; tokens or rows over a learned ceiling a ``volume`` alert; work outside
the agent's working hours a ``temporal`` one. What the change calendar covers is not
raised, as for the detectors, nor what an open alert of the agent already stands for
(the scope items it names; for an open temporal alert, more work outside the hours).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from controlplane.agents.models import Agent, EdgeNode
from controlplane.core.tenancy import tenant_context
from controlplane.security.alerts import alerted_scope, alerts_record
from controlplane.security.detectors import CLASSIFICATION_RANK, SENSITIVE, Finding
from controlplane.security.minutes import Suppression
from controlplane.security.models import CLOSED_STATES, Alert, Kind, MaintenanceWindow
from controlplane.telemetry.edge_client import EdgeClient, EdgeRejected

logger = logging.getLogger(__name__)
MINUTE = dt.timedelta(minutes=1)
FRESH_EVERY = dt.timedelta(seconds=15)


def _moment(value: Any) -> dt.datetime:
    moment = dt.datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _item(raw: Mapping[str, Any]) -> str:
    item = str(raw["item"])
    return item[2:] if raw["dimension"] == "model" and item.startswith("*/") else item


def as_finding(raw: Mapping[str, Any], node: EdgeNode) -> Finding:
    """One edge finding as a detector finding; KeyError/ValueError if malformed."""
    agent_id = uuid.UUID(str(raw["agent_id"]))
    first = _moment(raw["first_seen"])
    last = max(_moment(raw["last_seen"]), first)
    started = first.replace(second=0, microsecond=0)
    ended = last.replace(second=0, microsecond=0) + MINUTE
    action = str(raw["action"])
    if raw["kind"] == "scope":
        dimension, item = str(raw["dimension"]), _item(raw)
        rank = CLASSIFICATION_RANK.get(item, 2) if dimension == "classification" else 0
        return Finding(
            kind="scope",
            subject=f"scope:{agent_id}",
            severity="high" if rank >= SENSITIVE else "medium",
            title=f"New {dimension} for this agent: {item} ({action} at the edge)",
            evidence={
                "learning": False,
                "source": "edge",
                "items": [
                    {
                        "dimension": dimension,
                        "item": item,
                        "first_seen": first.isoformat(),
                        "why": str(raw.get("reason") or ""),
                        "action": action,
                        "seen_in": str(raw.get("source") or ""),
                        "uses": int(raw.get("count") or 1),
                        "edge_node": node.name,
                        "first_time_for_agent": True,
                    }
                ],
            },
            score=float(raw.get("count") or 1),
            agent_ids=[agent_id],
            site_id=node.site_id,
            started_at=started,
            detected_at=first,
            ended_at=ended,
        )
    if raw["kind"] == "temporal":
        return Finding(
            kind="temporal",
            subject=f"temporal:{agent_id}",
            severity="medium",
            title="Activity outside the agent's operating window (flagged at the edge)",
            evidence={
                "source": "edge",
                "hour_of_week": str(raw["item"]),
                "why": str(raw.get("reason") or ""),
                "action": action,
                "spans": int(raw.get("count") or 1),
                "edge_node": node.name,
            },
            score=float(raw.get("count") or 1),
            agent_ids=[agent_id],
            site_id=node.site_id,
            started_at=started,
            detected_at=first,
            ended_at=ended,
        )
    if raw["kind"] != "ceiling":
        raise ValueError(f"unknown finding kind {raw['kind']!r}")
    metric = str(raw["dimension"])
    observed, ceiling = int(raw["observed"]), int(raw["limit"])
    return Finding(
        kind="volume",
        subject=f"volume:{agent_id}",
        severity="high",
        title=f"{metric.replace('_', ' ')} a minute over the agent's ceiling "
        f"({action} at the edge)",
        evidence={
            "source": "edge",
            "metric": metric,
            "measure": "edge_ceiling",
            "window_minutes": 1,
            "observed": observed,
            "ceiling": ceiling,
            "ratio": round(observed / ceiling, 2),
            "action": action,
            "why": str(raw.get("reason") or ""),
            "edge_node": node.name,
        },
        score=observed / ceiling,
        agent_ids=[agent_id],
        site_id=node.site_id,
        started_at=started,
        detected_at=first,
        ended_at=ended,
    )


def _announced(finding: Finding) -> bool:
    """Whether the change calendar covers the finding, as it silences the detectors'
    (caller holds the tenant's context)."""
    windows = MaintenanceWindow.objects.filter(
        starts_at__lte=finding.detected_at, ends_at__gt=finding.detected_at
    )
    return any(
        Suppression(
            starts_at=w.starts_at,
            ends_at=w.ends_at,
            agent_ids=frozenset(w.agent_ids),
            kinds=frozenset(w.kinds),
        ).covers(finding.kind, finding.agent_ids, finding.detected_at)
        for w in windows
    )


def _open_items(agent_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, set[tuple[str, str]]]:
    """Per agent, what its alerts nobody has closed already stand for: the scope items
    its scope and escalation alerts name, and ``("temporal", "")`` when it has an open
    temporal alert (caller holds the tenant's context)."""
    items: dict[uuid.UUID, set[tuple[str, str]]] = defaultdict(set)
    alerts = Alert.objects.filter(
        kind__in=(Kind.SCOPE, Kind.ESCALATION, Kind.TEMPORAL), agent_ids__overlap=list(agent_ids)
    ).exclude(state__in=CLOSED_STATES)
    for alert in alerts:
        for agent_id in alert.agent_ids:
            if alert.kind == Kind.TEMPORAL:
                items[agent_id].add((Kind.TEMPORAL, ""))
            else:
                items[agent_id].update(alerted_scope(alert))
    return items


def _known(finding: Finding, open_items: Mapping[uuid.UUID, set[tuple[str, str]]]) -> bool:
    """A finding an open alert of its agent already stands for. The edge checks every
    span, so it sees a use a day of an alerted item (the profile keeps it out of the
    allow-set, refuse mode keeps refusing it) or each task of an agent that took to
    working at night; the open alert is where a person judges that, and the detectors
    still raise what grows out of it."""
    known = open_items.get(finding.agent_ids[0], set())
    if finding.kind == Kind.TEMPORAL:
        return (Kind.TEMPORAL, "") in known
    if finding.kind != Kind.SCOPE:
        return False
    return all((i["dimension"], i["item"]) in known for i in finding.evidence["items"])


def after_pull(*, node: EdgeNode, edge: EdgeClient, new_records: int) -> None:
    """Behavioural security's part of every pull of a node: the edge's findings become
    alerts, and new data gets a detection pass of the tenant on the ``security`` queue
    (docs/security.md, "Runs"). Neither may fail the pull."""
    try:
        edge_findings_collect(node=node, edge=edge)
    except Exception:
        logger.exception("edge node %s: its security findings were not collected", node.pk)
    # At most one pass per tenant every FRESH_EVERY (pulls of many nodes, every few
    # seconds, would otherwise each start one); what arrives meanwhile waits for the next.
    key = f"security:fresh-pass:{node.tenant_id}"
    if new_records and cache.add(key, 1, timeout=FRESH_EVERY.total_seconds()):
        from controlplane.security import tasks

        transaction.on_commit(partial(tasks.run_detection.delay, str(node.tenant_id), fresh=True))


def edge_findings_collect(
    *, node: EdgeNode, edge: EdgeClient, now: dt.datetime | None = None
) -> int:
    """Read the node's findings, record them as alerts of its tenant, acknowledge them.
    Returns the alerts created. An edge without the endpoint (older) is skipped."""
    try:
        body = edge.security_findings()
    except EdgeRejected as exc:
        if exc.status_code == 404:
            return 0
        raise
    raw_findings = body.get("findings") or []
    if not raw_findings:
        return 0
    created = edge_findings_record(node=node, raw_findings=raw_findings, now=now)
    edge.security_findings_ack(int(body.get("cursor") or 0))
    return len(created)


def edge_findings_record(
    *, node: EdgeNode, raw_findings: Iterable[Mapping[str, Any]], now: dt.datetime | None = None
) -> list[Alert]:
    """Record findings read from the node (edge/watch.py's ``pending``) as alerts of its
    tenant; malformed ones and ones naming another tenant's agents are skipped. Returns
    the alerts created (a finding whose subject has a running alert extends it)."""
    findings = []
    for raw in raw_findings:
        try:
            findings.append(as_finding(raw, node))
        except (KeyError, TypeError, ValueError) as exc:
            logger.warning("edge node %s: a malformed finding skipped: %s", node.pk, exc)
    with tenant_context(node.tenant_id):
        named = {a for f in findings for a in f.agent_ids}
        agents = set(Agent.objects.filter(pk__in=named).values_list("pk", flat=True))
        findings = [f for f in findings if set(f.agent_ids) <= agents]  # the node's tenant's
        open_items = _open_items(named)
        findings = [f for f in findings if not _announced(f) and not _known(f, open_items)]
        with transaction.atomic():
            return alerts_record(
                tenant_id=node.tenant_id, findings=findings, now=now or timezone.now()
            )
