"""Importing OTLP files as a tenant's history (``manage.py import_otlp``), so a new
customer's baselines start from their past weeks (docs/operations.md).

Spans become spool records exactly as an edge makes them (edge/otlp.py), mapped to the
tenant's agents as a site collector maps them (``agent.id``, the agent's id or name,
else ``service.name``, its name: edge/collector.py), and go the pull worker's way into
both stores: ``build_batch``, the ledger's ``ON CONFLICT DO NOTHING`` on the stable event
id, and the ClickHouse insert with a deduplication token. ClickHouse is also asked which
of a batch's spans it already has, and gets only the others: importing a file twice,
or a file that overlaps what an edge delivered, adds nothing.

Every file is read and mapped first, into a staging file of records, and only then
stored: nothing is stored if any line cannot be read or names an agent the tenant does
not have.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from django.conf import settings

from billing.pricing import PriceBook
from controlplane.agents.models import Agent
from controlplane.agents.services import agent_create
from controlplane.audit.services import Actor, audit_record
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.isolation import (
    analytics_refused,
    ledger_insert_isolating,
    spans_insert_isolating,
)
from controlplane.telemetry.otlp_files import OtlpFileError, read_otlp_file
from controlplane.telemetry.records import ZERO_UUID_TEXT, Batch, build_batch
from controlplane.telemetry.spans import events_stored, spans_insert, spans_table
from edge.auth import Principal
from edge.collector import AGENT_ID, MAX_NAME, SERVICE_NAME, label
from edge.otlp import OtlpError, attributes, span_record
from edge.storable import storable_json
from tenants.models import Tenant

ACTOR = Actor.system("import_otlp")


class UnknownAgentsError(ValueError):
    def __init__(self, unknown: dict[str, str]) -> None:
        named = "; ".join(f"{name!r} (first at {where})" for name, where in unknown.items())
        super().__init__(
            f"{len(unknown)} agent{'s' if len(unknown) != 1 else ''} the tenant does not "
            f"have: {named}. Register them first, or pass --register-unknown."
        )
        self.unknown = unknown


@dataclass
class FileResult:
    path: Path
    sha256: str = ""
    spans: int = 0
    new_in_ledger: int = 0
    new_in_clickhouse: int = 0
    refused: list[str] = field(default_factory=list)
    """``where: reason`` of each span a store refused; the rest was imported."""


class AgentMap:
    """The tenant's agents by id and by name; a resource names one by ``agent.id`` (id
    or name), else ``service.name`` (name)."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        with tenant_context(tenant):
            agents = list(Agent.objects.select_related("device"))
        self._by_id = {str(agent.pk): agent for agent in agents}
        self._by_name = {agent.name: agent for agent in agents}

    def agent_for(self, resource: dict[str, Any]) -> Agent | None:
        for key in (AGENT_ID, SERVICE_NAME):
            value = resource.get(key)
            if isinstance(value, str) and value.strip():
                agent = self._by_id.get(value.strip().lower()) or self._by_name.get(value.strip())
                if agent is not None:
                    return agent
        return None

    def principal_for(self, resource: dict[str, Any]) -> Principal | None:
        agent = self.agent_for(resource)
        if agent is None:
            return None
        site = agent.site_id or (agent.device.site_id if agent.device else None)
        return Principal(
            tenant_id=str(self.tenant.pk),
            agent_id=str(agent.pk),
            department_id=str(agent.department_id) if agent.department_id else None,
            device_id=str(agent.device_id) if agent.device_id else None,
            site_id=str(site) if site else None,
            edge_node_id=ZERO_UUID_TEXT,
        )


@dataclass
class Staged:
    """One file, read and mapped: its spans as spool record lines in ``records`` (a file
    of ``where`` TAB line), so the slow part, decoding, is done once."""

    path: Path
    records: Path
    spans: int = 0
    unknown: dict[str, str] = field(default_factory=dict)
    """Agents the file names that the tenant does not have: name → where first."""


def stage(path: Path, agents: AgentMap, workdir: Path) -> Staged:
    """Read and map every span of the file; OtlpFileError for what cannot be read."""
    staged = Staged(path, workdir / f"{uuid.uuid4().hex}.records")
    with staged.records.open("wb") as out:
        for chunk in read_otlp_file(path):
            place = orjson.dumps(chunk.where) + b"\t"
            for i, resource_spans in enumerate(chunk.request.resource_spans):
                resource = attributes(resource_spans.resource.attributes)
                principal = agents.principal_for(resource)
                if principal is None:
                    staged.unknown.setdefault(label(resource), chunk.where)
                    continue
                for j, scope_spans in enumerate(resource_spans.scope_spans):
                    for k, span in enumerate(scope_spans.spans):
                        where = f"resourceSpans[{i}].scopeSpans[{j}].spans[{k}]"
                        try:
                            # Received "when it ended": the same file gives the same lines.
                            record = span_record(
                                span, resource, principal, span.end_time_unix_nano, where
                            )
                        except OtlpError as error:
                            raise OtlpFileError(f"{chunk.where}: {error}") from None
                        out.write(place + storable_json(record) + b"\n")
                        staged.spans += 1
    return staged


def register_unknown(*, tenant: Tenant, names: list[str]) -> None:
    """Register the agents the files name (``--register-unknown``), audited."""
    for name in sorted(names):
        agent_create(actor=ACTOR, tenant=tenant, name=name[:MAX_NAME])


def _staged_records(staged: Staged) -> Iterator[tuple[str, bytes]]:
    with staged.records.open("rb") as handle:
        for row in handle:
            where, _, line = row.rstrip(b"\n").partition(b"\t")
            yield orjson.loads(where), line


def import_file(
    staged: Staged, *, tenant: Tenant, progress: Callable[[int], None] | None = None
) -> FileResult:
    """Store the staged file's spans in both stores (those not there yet); ``progress``
    is told how many spans are done after every batch."""
    path = staged.path
    result = FileResult(path, sha256=_sha256(path))
    prices = PriceBook.load()
    retention = {tenant.pk: tenant.retention_days}
    resident = frozenset({tenant.pk}) if tenant.body_residency else frozenset()
    size = settings.EDGE_PULL_BATCH_SIZE
    lines: list[bytes] = []
    places: dict[bytes, str] = {}
    for where, line in _staged_records(staged):
        lines.append(line)
        places.setdefault(line, where)
        if len(lines) >= size:
            _store(lines, places, tenant, prices, retention, resident, result)
            lines, places = [], {}
            if progress is not None:
                progress(result.spans)
    if lines:
        _store(lines, places, tenant, prices, retention, resident, result)
        if progress is not None:
            progress(result.spans)
    audit_record(
        actor=ACTOR,
        action="telemetry.imported",
        target=tenant,
        tenant_id=tenant.pk,
        after={
            "file": path.name,
            "sha256": result.sha256,
            "spans": result.spans,
            "new_in_ledger": result.new_in_ledger,
            "new_in_clickhouse": result.new_in_clickhouse,
            "refused": len(result.refused),
        },
    )
    return result


def _store(
    lines: list[bytes],
    places: dict[bytes, str],
    tenant: Tenant,
    prices: PriceBook,
    retention: dict[uuid.UUID, int],
    resident: frozenset[uuid.UUID],
    result: FileResult,
) -> None:
    batch = build_batch(
        lines, prices=prices, retention_days=retention, tenant_id=tenant.pk, resident=resident
    )
    result.spans += len(lines)
    result.refused += [f"{places[line]}: {why}" for line, why in batch.rejected]
    new_rows, refused = ledger_insert_isolating(tenant.pk, batch.ledger)
    result.new_in_ledger += new_rows
    result.refused += [
        f"{places[batch.lines[index]]}: the ledger refused it: {why}"
        for index, why in sorted(refused.items())
    ]
    fresh, fresh_lines = _not_in_clickhouse(tenant.pk, batch)
    if not fresh_lines:
        return
    digest = hashlib.sha256(b"\n".join(fresh_lines)).hexdigest()[:32]
    token = f"import:{tenant.pk}:{digest}"
    refused_here: dict[int, str] = {}
    try:
        spans_insert(spans_table(fresh), dedup_token=token)
    except Exception as exc:
        if not analytics_refused(exc):
            raise
        refused_here = spans_insert_isolating(fresh, exc, token)
    result.new_in_clickhouse += len(fresh_lines) - len(refused_here)
    result.refused += [
        f"{places[fresh_lines[index]]}: ClickHouse refused it: {why}"
        for index, why in sorted(refused_here.items())
    ]


def _not_in_clickhouse(
    tenant_id: uuid.UUID, batch: Batch
) -> tuple[dict[str, list[Any]], list[bytes]]:
    """The batch's span columns without the spans ClickHouse already has (nor any span
    twice), with the line of each."""
    ids = batch.spans["event_id"]
    if not ids:
        return batch.spans, []
    starts = batch.spans["start_time"]
    seen = events_stored(tenant_id, sorted(set(ids)), min(starts), max(starts))
    keep = []
    for index, event_id in enumerate(ids):
        if event_id not in seen:
            seen.add(event_id)
            keep.append(index)
    fresh = {name: [values[index] for index in keep] for name, values in batch.spans.items()}
    return fresh, [batch.lines[index] for index in keep]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
