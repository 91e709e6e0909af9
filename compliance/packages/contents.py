"""What goes into a tenant's package for one period, file by file.

| path | what |
| --- | --- |
| ``README.txt`` | the layout and how to verify |
| ``signing-key.pem`` | the public key that signed the manifest (also in the manifest) |
| ``audit/chain-head.json`` | the audit trail's head (sequence number and hash) when made |
| ``audit/events.csv`` | the tenant's audit entries of the period (who changed what, when) |
| ``evidence/<category>/<control>.json`` | every evidence record of the period, whole |
| ``populations/<control>/<test>.csv`` | each test's examined entities, one row each |
| ``criteria/<category>.pdf`` | one report per trust service category |
| ``exceptions.csv`` | exceptions in force during the period |
| ``dataflow/period.svg`` / ``.json`` | the data-flow diagram of the whole period and its graph |
| ``dataflow/snapshots/…svg`` | the diagrams saved during the period, as saved |

Call ``package_files`` in the tenant's context.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from compliance.dataflow import canonical_json, render_svg
from compliance.documents import evidence_document
from compliance.models import (
    Category,
    Control,
    ControlException,
    DataFlowSnapshot,
    EvidenceChainHead,
    EvidenceRecord,
)
from compliance.packages.archive import ALGORITHM, public_key_pem
from compliance.packages.report import criterion_pdf, summarize
from compliance.periods import Period
from compliance.selectors import dataflow_graph
from controlplane.audit.models import AuditChainHead, AuditEvent
from controlplane.core.spreadsheet import safe_cell
from tenants.models import Tenant

README = """Evidence package of {tenant} ({slug}) for {period}.

Made by Agent Control Plane at {generated_at} UTC. Every file is listed with its
SHA-256 in manifest.json, which is signed with Ed25519 (manifest.sig, key {key_id}).

  manifest.json               tenant, period, audit-chain head, signing key, every file's hash
  manifest.sig                Ed25519 signature of manifest.json's exact bytes
  signing-key.pem             the public key (compare with {published})
  audit/chain-head.json       the audit trail's head when this package was made
  audit/events.csv            the tenant's audit entries of the period
  evidence/<category>/*.json  every evidence record of the period, with its query,
                              parameters, population, failing entities and hash chain
  populations/<control>/*.csv each test's population, for sampling
  criteria/<category>.pdf     one report per trust service category
  exceptions.csv              exceptions in force during the period
  dataflow/                   data-flow diagrams of the period (SVG) and their graphs

Verify it offline:
  python manage.py verify_evidence_package THIS.zip --public-key {published}
(or check manifest.sig with any Ed25519 tool, then `sha256sum` every file).
"""

AUDIT_COLUMNS = (
    "seq",
    "occurred_at",
    "actor_kind",
    "actor_label",
    "ip",
    "action",
    "target_type",
    "target_id",
    "target_label",
    "before",
    "after",
    "prev_hash",
    "hash",
)
EXCEPTION_COLUMNS = (
    "id",
    "control",
    "entity",
    "status",
    "justification",
    "requested_by",
    "requested_at",
    "decided_by",
    "decided_at",
    "decision_note",
    "expires_at",
)
POPULATION_PREFIX = ("evidence_seq", "recorded_at", "result", "failing")


@dataclass
class Contents:
    files: dict[str, bytes] = field(default_factory=dict)
    header: dict[str, Any] = field(default_factory=dict)
    evidence_count: int = 0
    audit_head: tuple[int, str] = (0, "")


def _iso(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.UTC).isoformat() if moment else ""


def _cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        value = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return safe_cell(value if value is not None else "")


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue().encode()


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def population_csv(records: Sequence[EvidenceRecord]) -> bytes:
    """Every examined entity of every record of one test, one row each: the record it
    came from, whether it failed, and the entity's own fields (the union over rows)."""
    columns: dict[str, None] = {}
    for record in records:
        for row in record.population:
            for key in row if isinstance(row, dict) else ("value",):
                columns.setdefault(str(key), None)
    names = list(columns)

    def rows() -> Iterable[list[Any]]:
        for record in records:
            failing = {str(e.get("key")) for e in record.failing_entities if isinstance(e, dict)}
            for row in record.population:
                entity = row if isinstance(row, dict) else {"value": row}
                key = str(entity.get("key", ""))
                yield [
                    record.seq,
                    _iso(record.recorded_at),
                    record.result,
                    "yes" if key and key in failing else "no",
                    *(entity.get(name) for name in names),
                ]

    return _csv((*POPULATION_PREFIX, *names), rows())


def _evidence(contents: Contents, records: list[EvidenceRecord], period: Period) -> None:
    controls = {c.pk: c for c in Control.objects.all()}
    by_control: dict[Any, list[EvidenceRecord]] = defaultdict(list)
    by_test: dict[tuple[str, str], list[EvidenceRecord]] = defaultdict(list)
    for record in records:
        by_control[record.control_id].append(record)
        by_test[(record.control_code, record.test_key)].append(record)
    for control_id, found in by_control.items():
        control = controls[control_id]
        path = f"evidence/{control.category}/{control.code}.json"
        contents.files[path] = _json([evidence_document(r) for r in found])
    for (code, key), found in by_test.items():
        contents.files[f"populations/{code}/{key}.csv"] = population_csv(found)
    exceptions = list(
        ControlException.objects.filter(
            requested_at__lt=period.until, expires_at__gt=period.since
        ).select_related("control")
    )
    for category in Category:
        in_category = [c for c in controls.values() if c.category == category.value]
        summaries = summarize(
            in_category,
            [r for r in records if controls[r.control_id].category == category.value],
            exceptions,
            period,
        )
        contents.files[f"criteria/{category.value}.pdf"] = criterion_pdf(
            category=category, summaries=summaries, header=contents.header
        )
    contents.files["exceptions.csv"] = _csv(
        EXCEPTION_COLUMNS,
        (
            [
                e.pk,
                e.control.code,
                e.entity,
                e.status,
                e.justification,
                e.requested_by_label,
                _iso(e.requested_at),
                e.decided_by_label,
                _iso(e.decided_at),
                e.decision_note,
                _iso(e.expires_at),
            ]
            for e in exceptions
        ),
    )


def _audit(contents: Contents, period: Period) -> None:
    events = AuditEvent.objects.filter(
        occurred_at__gte=period.since, occurred_at__lt=period.until
    ).order_by("seq")
    contents.files["audit/events.csv"] = _csv(
        AUDIT_COLUMNS,
        (
            [
                e.seq,
                _iso(e.occurred_at),
                e.actor_kind,
                e.actor_label,
                e.ip,
                e.action,
                e.target_type,
                e.target_id,
                e.target_label,
                e.before,
                e.after,
                e.prev_hash,
                e.hash,
            ]
            for e in events.iterator(chunk_size=2000)
        ),
    )


def _dataflow(contents: Contents, tenant: Tenant, period: Period) -> None:
    """The period's diagram (one node per department where a site has many agents),
    and every snapshot saved of a range inside the period, as it was saved."""
    graph = dataflow_graph(tenant=tenant, since=period.since, until=period.until, group_agents=None)
    contents.files["dataflow/period.svg"] = render_svg(graph).encode()
    contents.files["dataflow/period.json"] = canonical_json(graph).encode()
    snapshots = DataFlowSnapshot.objects.filter(
        since__gte=period.since, until__lte=period.until
    ).order_by("since", "content_hash")
    for snapshot in snapshots:
        stamp = f"{snapshot.since:%Y%m%dT%H%M}-{snapshot.until:%Y%m%dT%H%M}"
        name = f"{stamp}-{snapshot.content_hash[:12]}"
        contents.files[f"dataflow/snapshots/{name}.svg"] = snapshot.svg.encode()


def package_files(
    *,
    tenant: Tenant,
    period: Period,
    package_id: str,
    generated_at: dt.datetime,
    generated_by: str,
    key_id: str,
    public_key: bytes,
) -> Contents:
    """Every file of the package and the manifest's header. In the tenant's context."""
    published = f"{settings.PUBLIC_URL}/compliance/signing-keys"
    audit_head = AuditChainHead.objects.filter(pk=1).first()
    chain = EvidenceChainHead.objects.first()
    records = list(
        EvidenceRecord.objects.filter(
            recorded_at__gte=period.since, recorded_at__lt=period.until
        ).order_by("seq")
    )
    contents = Contents(
        evidence_count=len(records),
        audit_head=(audit_head.seq, audit_head.hash) if audit_head else (0, ""),
    )
    contents.header = {
        "package_id": package_id,
        "tenant": {"id": str(tenant.pk), "slug": tenant.slug, "name": tenant.name},
        "period": {
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
            "since": _iso(period.since),
            "until": _iso(period.until),
        },
        "generated_at": _iso(generated_at),
        "generated_by": generated_by,
        "signing_key": {
            "key_id": key_id,
            "algorithm": ALGORITHM,
            "public_key": base64.b64encode(public_key).decode(),
            "published_at": published,
        },
        "audit_chain_head": {"seq": contents.audit_head[0], "hash": contents.audit_head[1]},
        "evidence_chain": {
            "head_seq": chain.seq if chain else 0,
            "head_hash": chain.hash if chain else "",
            "records": len(records),
            "first_seq": records[0].seq if records else None,
            "last_seq": records[-1].seq if records else None,
        },
    }
    contents.files["README.txt"] = README.format(
        tenant=tenant.name,
        slug=tenant.slug,
        period=period,
        generated_at=f"{generated_at.astimezone(dt.UTC):%Y-%m-%d %H:%M}",
        key_id=key_id,
        published=published,
    ).encode()
    contents.files["signing-key.pem"] = public_key_pem(public_key).encode()
    contents.files["audit/chain-head.json"] = _json(
        {
            "seq": contents.audit_head[0],
            "hash": contents.audit_head[1],
            "read_at": _iso(generated_at),
            "verify_with": "manage.py verify_audit_log",
        }
    )
    _audit(contents, period)
    _evidence(contents, records, period)
    _dataflow(contents, tenant, period)
    return contents
