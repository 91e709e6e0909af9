"""A data-subject request finds one person's data in every store (ledger, dead letters,
alerts, the audit trail, ClickHouse spans and rollups, the edge's spool), exports it,
and erases it: afterwards a search of every store for the person's identifiers finds
nothing, their usage is still billed, and the audit trail still verifies."""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from compliance.privacy import selectors
from compliance.privacy.clickhouse import TABLES
from compliance.privacy.export import export_bytes
from compliance.privacy.models import DataSubjectRequest
from compliance.privacy.services import dsr_create, dsr_erase, dsr_verify
from controlplane.analytics import get_store
from controlplane.audit.services import audit_record
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.alerts import alert_transition, alerts_record
from controlplane.security.detectors import Finding
from controlplane.telemetry.models import DeadLetter, UsageEvent
from tests.conftest import SYSTEM
from tests.privacy.conftest import otlp_span, pull, send, spooled
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db

EMAIL, PHONE, CUSTOMER = "Jane.Doe@example.com", "+44 20 7946 0958", "CUST-0042"
# How each may be written where the person's data is: other case, other spacing.
WRITTEN = ("jane.doe@example.com", "020 7946 0958", "+442079460958", "CUST-0042")
IDENTIFIERS = [
    {"kind": "email", "value": EMAIL},
    {"kind": "phone", "value": PHONE},
    {"kind": "customer_id", "value": CUSTOMER},
]


def _her_traffic(site: Site, when: dt.datetime) -> None:
    """Two traces about her, one about someone else; the second about her stays in the
    spool (not pulled yet)."""
    send(
        site,
        [
            otlp_span(1, when, trace=1, prompt="Order status for JANE.DOE@example.com please"),
            otlp_span(
                2,
                when,
                trace=1,
                prompt="(looking up)",
                **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "crm.lookup"},
                **{"crm.customer": CUSTOMER},
            ),
            otlp_span(3, when, trace=2, prompt="What is the weather like?"),
        ],
    )
    pull(site)
    send(site, [otlp_span(4, when, trace=3, prompt="Call her back on 020 7946 0958")])


def _her_alert(site: Site, when: dt.datetime) -> None:
    agent = site.agent("support-bot")
    finding = Finding(
        kind="scope",
        subject=f"scope:{agent.pk}",
        agent_ids=[agent.pk],
        site_id=None,
        started_at=when,
        detected_at=when,
        ended_at=when,
        severity="medium",
        title="new collection customers/jane.doe@example.com",
        evidence={"items": [{"dimension": "collection", "item": "customers/jane.doe@example.com"}]},
    )
    with tenant_context(site.tenant):
        [alert] = alerts_record(tenant_id=site.tenant.pk, findings=[finding], now=when)
        alert_transition(actor=SYSTEM, alert=alert, state="acknowledged", note="Rang 020 7946 0958")
        DeadLetter.objects.create(
            tenant=site.tenant,
            edge_node_id=site.node.pk,
            raw=b'{"tenant_id": "x", "request_body": "for CUST-0042"}',
            raw_sha256="0" * 64,
            store="ledger",
            reason="test",
            batch_after=0,
            batch_upto=1,
            last_attempt_at=when,
        )
        audit_record(
            actor=SYSTEM,
            action="support.note",
            target=alert,
            tenant_id=site.tenant.pk,
            after={"comment": "customer CUST-0042 asked for a refund"},
        )


def _run_steps(dsr: DataSubjectRequest, capture: Callable[..., Any]) -> DataSubjectRequest:
    with capture(execute=True):
        pass
    with all_tenants_context():
        return DataSubjectRequest.unscoped.get(pk=dsr.pk)


def _text_everywhere(site: Site) -> str:
    """Every text column of every store that holds the tenant's data, as one string:
    what a search for the person looks through."""
    tenant = site.tenant
    parts: list[str] = []
    with tenant_context(tenant), connection.cursor() as cursor:
        for sql in (
            "SELECT name || ' ' || tool FROM telemetry_usageevent",
            "SELECT convert_from(raw, 'UTF8') FROM telemetry_deadletter",
            "SELECT title || ' ' || evidence::text FROM security_alert",
            "SELECT text FROM security_note",
            "SELECT item FROM security_acceptedbehaviour",
            "SELECT actor_label || ' ' || target_label || ' ' || coalesce(before::text, '') "
            "|| ' ' || coalesce(after::text, '') FROM audit_auditevent",
            "SELECT subject_masked || ' ' || reason || ' ' || verification_note || ' ' || "
            "identifiers_enc || ' ' || export_enc FROM privacy_datasubjectrequest",
        ):
            cursor.execute(sql)
            parts.extend(str(row[0]) for row in cursor.fetchall())
    for table in TABLES:
        columns = table.text or ("toString(tenant_id)",)
        rows = get_store().query(
            f"SELECT concat({', '.join(f'toString({c})' for c in columns)}, '') AS t "
            f"FROM {table.name} WHERE tenant_id = {{tenant_id:UUID}}",
            {"tenant_id": tenant.pk},
        )
        parts.extend(row["t"] for row in rows)
    parts.extend(json.dumps(record) for record in spooled(site))
    return "\n".join(parts).lower()


def _found(text: str) -> list[str]:
    digits = "".join(c for c in text if c.isdigit() or c == "\n")
    hits = [w for w in WRITTEN if w.lower() in text]
    if "2079460958" in digits:
        hits.append("phone digits")
    return hits


def test_a_request_finds_exports_and_erases_a_person_everywhere(
    configured: Site, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    site = configured
    when = timezone.now() - dt.timedelta(hours=2)
    _her_traffic(site, when)
    _her_alert(site, when)
    assert len(_found(_text_everywhere(site))) >= 4

    with django_capture_on_commit_callbacks(execute=True):
        dsr = dsr_create(actor=SYSTEM, tenant=site.tenant, identifiers=IDENTIFIERS,
                         reason="Email from Jane.Doe@example.com of 1 Dec")  # fmt: skip
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get(pk=dsr.pk)

    assert dsr.state == DataSubjectRequest.State.FOUND, (dsr.error, dsr.steps)
    assert dsr.subject_masked == "email j***@example.com, phone +44***58, customer_id CUS***42"
    found = dsr.found
    assert found["postgres"]["telemetry_usageevent"] == 0  # the ledger holds no text of hers
    assert found["postgres"]["telemetry_deadletter"] == 1
    assert found["postgres"]["security_alert"] == 1
    assert found["postgres"]["security_note"] == 1
    assert found["postgres"]["audit_auditevent"] >= 2
    assert found["clickhouse"]["spans"] == 2
    assert found["clickhouse"]["security_scope_minute"] >= 0
    assert found["edge"][site.node.name]["spool_records"] == 1
    with zipfile.ZipFile(io.BytesIO(export_bytes(dsr))) as archive:
        names = set(archive.namelist())
        assert {"manifest.json", "postgres.json", "clickhouse.json"} <= names
        assert f"edge/{site.node.name}.json" in names
        spans = json.loads(archive.read("clickhouse.json"))["spans"]
        assert any("JANE.DOE@example.com" in s["request_body"] for s in spans)
        assert "020 7946 0958" in archive.read(f"edge/{site.node.name}.json").decode()

    dsr_verify(actor=SYSTEM, dsr=dsr, note="Replied from the address on file")
    with django_capture_on_commit_callbacks(execute=True):
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="erase")
    with all_tenants_context():
        dsr = DataSubjectRequest.unscoped.get(pk=dsr.pk)

    assert dsr.state == DataSubjectRequest.State.ERASED, (dsr.error, dsr.remaining)
    assert _found(_text_everywhere(site)) == []
    assert dsr.erased["clickhouse"]["spans"] == 2  # both spans of her pulled trace
    assert dsr.erased["edge"][site.node.name]["spool_records"] == 1
    assert not dsr.identifiers_enc and not dsr.export_enc
    # What is not hers is untouched, and her usage is still there to bill.
    with tenant_context(site.tenant):
        assert UsageEvent.objects.count() == 3
    rows = get_store().query(
        "SELECT request_body FROM spans WHERE tenant_id = {tenant_id:UUID} ORDER BY span_id",
        {"tenant_id": site.tenant.pk},
    )
    assert [r["request_body"] for r in rows] == [
        "[erased]",
        "[erased]",
        "What is the weather like?",
    ]
    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "chain intact" in out.getvalue()
    assert selectors.dsr_requests(site.tenant, when, timezone.now()) == [dsr]
