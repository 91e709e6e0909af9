"""The operations panel, from PostgreSQL: edge node versions against the expected
release and their patch level against the current one, their deployment history,
records waiting as dead letters, configuration changes with their diff, and the age of
provider credentials.

The querysets come from the caller's ``Scope`` (``controlplane.web.scope``), so the
portal reads through the tenant's scoped managers and the console by the tenant in the
URL. MSP-wide credentials (no tenant) are read only by ``msp_credentials``, under the
all-tenants context the staff console runs in.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

import edge
from controlplane.agents.models import EdgeNode, EdgeNodeVersionChange
from controlplane.gateway.models import ConfigChange, ProviderCredential
from controlplane.telemetry.models import DeadLetter
from controlplane.web.edge_status import DEGRADED, DOWN, LATE, STATUS_LABELS, format_age, node_state

CREDENTIAL_MAX_AGE = dt.timedelta(days=90)
RECENT_CHANGES = 20
# The edge release this control plane ships with (the `edge` package beside it).
CURRENT_EDGE_RELEASE = edge.__version__

CURRENT, PATCH_BEHIND, MINOR_BEHIND, MAJOR_BEHIND, NEWER, UNKNOWN = (
    "current",
    "patch behind",
    "minor release behind",
    "major release behind",
    "newer than the release",
    "unknown",
)


def _release(text: str) -> tuple[int, int, int] | None:
    parts = text.strip().lstrip("v").split("+")[0].split("-")[0].split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    major, minor, patch = (int(part) for part in parts)
    return major, minor, patch


def patch_level(reported: str, current: str = CURRENT_EDGE_RELEASE) -> str:
    """How far a reported edge version is from the current release (MAJOR.MINOR.PATCH)."""
    have, want = _release(reported), _release(current)
    if have is None or want is None:
        return UNKNOWN
    if have == want:
        return CURRENT
    if have > want:
        return NEWER
    if have[0] < want[0]:
        return MAJOR_BEHIND
    return MINOR_BEHIND if have[1] < want[1] else PATCH_BEHIND


@dataclass(frozen=True)
class NodeVersion:
    node: EdgeNode
    state: str
    reported_version: str
    expected_version: str
    config_applied: int
    config_current: int
    spool_records: int | None
    oldest_unpulled_age: str
    cpu_percent: float | None
    memory_percent: float | None
    disk_percent: float | None

    @property
    def state_label(self) -> str:
        return STATUS_LABELS[self.state]

    @property
    def patch_level(self) -> str:
        return patch_level(self.reported_version)

    @property
    def behind_release(self) -> bool:
        return self.patch_level in (PATCH_BEHIND, MINOR_BEHIND, MAJOR_BEHIND)

    @property
    def outdated(self) -> bool:
        return bool(self.expected_version) and self.reported_version != self.expected_version

    @property
    def config_behind(self) -> bool:
        return self.config_applied < self.config_current

    @property
    def needs_attention(self) -> bool:
        return self.state in (DOWN, LATE, DEGRADED) or self.outdated or self.config_behind


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def node_versions(nodes: QuerySet[EdgeNode], now: dt.datetime) -> list[NodeVersion]:
    """Every edge node with its reported and expected version, worst first."""
    rows = []
    for node in nodes.select_related("site"):
        heartbeat = node.heartbeat if isinstance(node.heartbeat, dict) else {}
        spool = heartbeat.get("spool") if isinstance(heartbeat.get("spool"), dict) else {}
        host = heartbeat.get("host") if isinstance(heartbeat.get("host"), dict) else {}
        assert isinstance(spool, dict) and isinstance(host, dict)
        records = _number(spool.get("records"))
        oldest = _number(spool.get("oldest_unpulled_unix_nano"))
        oldest_age = "—"
        if oldest and node.heartbeat_at is not None:
            oldest_at = dt.datetime.fromtimestamp(oldest / 1e9, dt.UTC)
            oldest_age = format_age(node.heartbeat_at - oldest_at)
        rows.append(
            NodeVersion(
                node=node,
                state=node_state(node, now),
                reported_version=str(heartbeat.get("version") or ""),
                expected_version=node.expected_version,
                config_applied=node.config_version_applied,
                config_current=node.site.config_version,
                spool_records=int(records) if records is not None else None,
                oldest_unpulled_age=oldest_age,
                cpu_percent=_number(host.get("cpu_percent")),
                memory_percent=_number(host.get("memory_percent")),
                disk_percent=_number(host.get("disk_percent")),
            )
        )
    rank = {DOWN: 0, LATE: 1, DEGRADED: 2}
    rows.sort(
        key=lambda r: (rank.get(r.state, 3), not r.outdated, not r.config_behind, r.node.name)
    )
    return rows


def dead_letters(letters: QuerySet[DeadLetter], limit: int = RECENT_CHANGES) -> list[DeadLetter]:
    """The newest records no store would take and that wait to be replayed."""
    return list(
        letters.filter(replayed_at__isnull=True)
        .select_related("edge_node")
        .defer("raw")
        .order_by("-created_at")[:limit]
    )


def deployments(
    changes: QuerySet[EdgeNodeVersionChange], limit: int = RECENT_CHANGES
) -> list[EdgeNodeVersionChange]:
    """The newest versions edge nodes started reporting: installs, upgrades, rollbacks."""
    return list(changes.select_related("edge_node__site").order_by("-observed_at")[:limit])


@dataclass(frozen=True)
class Change:
    change: ConfigChange
    diff_text: str


def config_changes(changes: QuerySet[ConfigChange], limit: int = RECENT_CHANGES) -> list[Change]:
    """The newest published bundle versions: site, version, when, who, summary, diff."""
    return [
        Change(change=change, diff_text=json.dumps(change.diff, indent=2, sort_keys=True))
        for change in changes.select_related("site").order_by("-created_at")[:limit]
    ]


@dataclass(frozen=True)
class CredentialAge:
    credential: ProviderCredential
    provider_name: str
    msp_wide: bool
    set_at: dt.datetime
    age: str
    age_days: int
    overdue: bool


def credential_ages(
    credentials: QuerySet[ProviderCredential], now: dt.datetime
) -> list[CredentialAge]:
    """Every credential with the age of its current secret; overdue (older than 90
    days) first, then oldest first."""
    rows = []
    for credential in credentials.select_related("provider"):
        age = now - credential.secret_set_at
        rows.append(
            CredentialAge(
                credential=credential,
                provider_name=credential.provider.name,
                msp_wide=credential.tenant_id is None,
                set_at=credential.secret_set_at,
                age=format_age(age),
                age_days=age.days,
                overdue=age > CREDENTIAL_MAX_AGE,
            )
        )
    rows.sort(key=lambda r: (not r.overdue, r.set_at))
    return rows


def tenant_credentials(tenant_id: Any) -> QuerySet[ProviderCredential]:
    """The tenant's own provider credentials (never the MSP-wide ones)."""
    return ProviderCredential.unscoped.filter(tenant_id=tenant_id)


def msp_credentials() -> QuerySet[ProviderCredential]:
    """The MSP-wide credentials. Staff console only."""
    return ProviderCredential.unscoped.filter(tenant__isnull=True)
