"""``manage.py import_otlp``: a collector file exporter's files (JSON lines, length-
delimited protobuf, gzipped or not) become a tenant's history in both stores, exactly
once, with errors that name the file, the line and the field."""

from __future__ import annotations

import gzip
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from controlplane.agents.models import Agent
from controlplane.agents.services import agent_create
from controlplane.analytics import get_store
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.security.scenario_otlp import as_json_line
from controlplane.telemetry.models import UsageEvent
from tenants.models import Tenant
from tenants.services import tenant_update
from tests.conftest import SYSTEM
from tests.edge.conftest import export_request, make_span

pytestmark = pytest.mark.django_db

CHAT = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 300,
    "gen_ai.usage.output_tokens": 40,
    "gen_ai.input.messages": "what is the refund policy?",
}


def _message(first: int, count: int, service: str = "support-bot") -> bytes:
    spans = [make_span(n, CHAT, trace=n) for n in range(first, first + count)]
    return export_request(spans, {"service.name": service}).SerializeToString()


def _json_file(path: Path, *messages: bytes, gz: bool = False) -> Path:
    data = b"".join(as_json_line(message) for message in messages)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def _proto_file(path: Path, *messages: bytes) -> Path:
    path.write_bytes(b"".join(len(m).to_bytes(4, "big") + m for m in messages))
    return path


def _import(tenant: Tenant, *files: Path, **options: Any) -> str:
    out = StringIO()
    call_command("import_otlp", "--tenant", tenant.slug, *map(str, files), stdout=out, **options)
    return out.getvalue()


def _stored(tenant: Tenant) -> tuple[int, int, int]:
    """Ledger rows, ClickHouse rows (duplicates would show) and rollup requests."""
    with tenant_context(tenant):
        ledger = UsageEvent.objects.count()
    params = {"tenant_id": tenant.pk}
    store = get_store()
    (rows,) = store.query(
        "SELECT count() AS n FROM spans WHERE tenant_id = {tenant_id:UUID}", params
    )
    (rollup,) = store.query(
        "SELECT sum(requests) AS n FROM spans_minute WHERE tenant_id = {tenant_id:UUID}", params
    )
    return ledger, int(rows["n"]), int(rollup["n"] or 0)


@pytest.fixture
def agent(tenant_a: Tenant) -> Agent:
    return agent_create(actor=SYSTEM, tenant=tenant_a, name="support-bot")


def test_json_lines_and_protobuf_files_gzipped_or_not_are_imported_exactly_once(
    tenant_a: Tenant, agent: Agent, tmp_path: Path
) -> None:
    files = [
        _json_file(tmp_path / "a.jsonl", _message(1, 30)),
        _json_file(tmp_path / "b.jsonl.gz", _message(31, 20), _message(51, 10), gz=True),
        _proto_file(tmp_path / "c.pb", _message(61, 25), _message(86, 15)),
    ]
    gzip_proto = tmp_path / "d.pb.gz"
    gzip_proto.write_bytes(
        gzip.compress(_proto_file(tmp_path / "d.pb", _message(101, 5)).read_bytes())
    )
    files.append(gzip_proto)

    out = _import(tenant_a, *files)
    assert f"{files[2]}: 40 spans read" in out
    assert "c.pb: 40/40 spans stored (100%)" in out, "progress"
    assert f"{files[2]}: 40 spans, 40 new in the ledger, 40 new in ClickHouse" in out
    assert _stored(tenant_a) == (105, 105, 105)
    with tenant_context(tenant_a):
        assert set(UsageEvent.objects.values_list("agent_id", flat=True)) == {agent.pk}
        assert UsageEvent.objects.filter(input_tokens=300, provider="openai").count() == 105

    again = _import(tenant_a, *files)
    assert "0 new in the ledger, 0 new in ClickHouse" in again
    assert _stored(tenant_a) == (105, 105, 105), "importing twice adds nothing"
    with all_tenants_context():
        assert AuditEvent.unscoped.filter(action="telemetry.imported").count() == 8


def test_a_file_overlapping_what_is_stored_adds_only_the_new_spans(
    tenant_a: Tenant, agent: Agent, tmp_path: Path
) -> None:
    _import(tenant_a, _proto_file(tmp_path / "first.pb", _message(1, 10)))
    out = _import(tenant_a, _json_file(tmp_path / "overlap.jsonl", _message(6, 10)))
    assert "10 spans, 5 new in the ledger, 5 new in ClickHouse" in out
    assert _stored(tenant_a) == (15, 15, 15)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json\n", "bad.jsonl:2: the body is not valid JSON"),
        (
            b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}\n',
            "bad.jsonl:2: resourceSpans[0].scopeSpans[0].spans[0].traceId must be a hex string",
        ),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "service.name", "value":'
            b' {"stringValue": "support-bot"}}]}, "scopeSpans": [{"spans": [{"traceId": "00",'
            b' "spanId": "0000000000000001"}]}]}]}\n',
            "bad.jsonl:2: resourceSpans[0].scopeSpans[0].spans[0].traceId must be 16 bytes",
        ),
    ],
)
def test_a_bad_line_names_the_file_the_line_and_the_field_and_nothing_is_imported(
    tenant_a: Tenant, agent: Agent, tmp_path: Path, content: bytes, message: str
) -> None:
    good = _json_file(tmp_path / "good.jsonl", _message(1, 3))
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(as_json_line(_message(10, 2)) + content)
    with pytest.raises(CommandError) as raised:
        _import(tenant_a, good, bad)
    assert message in str(raised.value) and "Nothing was imported" in str(raised.value)
    assert _stored(tenant_a) == (0, 0, 0)


def test_a_truncated_protobuf_file_names_the_message_and_where_it_starts(
    tenant_a: Tenant, agent: Agent, tmp_path: Path
) -> None:
    first = _message(1, 2)
    path = tmp_path / "cut.pb"
    path.write_bytes(len(first).to_bytes(4, "big") + first + (500).to_bytes(4, "big") + b"x")
    with pytest.raises(CommandError) as raised:
        _import(tenant_a, path)
    assert f"{path}: message 2 at byte {4 + len(first)}: the file ends 499 bytes early" in str(
        raised.value
    )


def test_unknown_agents_stop_the_import_unless_registering_them_is_asked(
    tenant_a: Tenant, agent: Agent, tmp_path: Path
) -> None:
    path = _json_file(tmp_path / "x.jsonl", _message(1, 2), _message(3, 2, service="ghost"))
    with pytest.raises(CommandError) as raised:
        _import(tenant_a, path)
    assert f"1 agent the tenant does not have: 'ghost' (first at {path}:2)" in str(raised.value)
    assert _stored(tenant_a) == (0, 0, 0)

    out = _import(tenant_a, path, register_unknown=True)
    assert "registered 1 agents: ghost" in out
    with tenant_context(tenant_a):
        ghost = Agent.objects.get(name="ghost")
        assert UsageEvent.objects.filter(agent_id=ghost.pk).count() == 2


def test_a_residency_tenants_imported_bodies_are_not_stored(
    tenant_a: Tenant, agent: Agent, tmp_path: Path
) -> None:
    tenant_update(actor=SYSTEM, tenant=tenant_a, body_residency=True)
    _import(tenant_a, _proto_file(tmp_path / "x.pb", _message(1, 2)))
    (row,) = get_store().query(
        "SELECT any(request_body) AS body, any(attributes) AS attributes FROM spans "
        "WHERE tenant_id = {tenant_id:UUID}",
        {"tenant_id": tenant_a.pk},
    )
    assert row["body"] == ""
    assert json.loads(row["attributes"])["acp.edge.bodies"] == "dropped"


def test_clear_errors_for_a_wrong_tenant_or_a_missing_file(
    tenant_a: Tenant, tmp_path: Path
) -> None:
    with pytest.raises(CommandError, match="--tenant: no tenant with the slug 'nope'"):
        call_command("import_otlp", "--tenant", "nope", str(tmp_path / "x.jsonl"))
    with pytest.raises(CommandError, match=r"x\.jsonl: no such file"):
        _import(tenant_a, tmp_path / "x.jsonl")
