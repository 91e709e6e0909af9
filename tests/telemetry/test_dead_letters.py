"""No record stops a site's pipeline: text no store can hold is replaced at the edge, a
record a store still refuses becomes a dead letter while the rest of its batch lands in
both stores exactly once, dead letters can be replayed after a fix, and every failed pull
shows on the node (docs/decisions/0014-poison-records.md)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from io import StringIO
from typing import Any
from urllib.parse import unquote

import httpx
import pyarrow as pa
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from controlplane.agents.models import EdgeNode
from controlplane.analytics import get_store, reset_store
from controlplane.analytics.chdb_server import ClickHouseError, ClickHouseHttpServer, Reply
from controlplane.core.tenancy import tenant_context
from controlplane.telemetry.models import DeadLetter, UsageEvent
from controlplane.telemetry.pull import pull_edge_node
from controlplane.web.edge_status import DEGRADED, DOWN, HEALTHY, node_state
from tests.edge.conftest import key_values
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db

MODEL = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}


def _span(number: int, name: str = "chat", **attributes: Any) -> Span:
    start = time.time_ns() - 60_000_000_000 + number
    return Span(
        trace_id=(0xFEED).to_bytes(16, "big"),
        span_id=number.to_bytes(8, "big"),
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + 250_000_000,
        attributes=key_values(
            {**MODEL, "gen_ai.usage.input_tokens": 10, "gen_ai.usage.output_tokens": 2} | attributes
        ),
    )


@pytest.fixture
def configured(site: Site) -> Site:
    """The site with an agent whose key the edge already knows (the pull pushes it)."""
    env = site.issue_key("support-bot")
    site.agent_headers = {  # type: ignore[attr-defined]
        name: unquote(value)
        for name, value in (
            pair.split("=", 1) for pair in env["OTEL_EXPORTER_OTLP_HEADERS"].split(",")
        )
    }
    assert _pull(site).error == ""
    return site


def _send(site: Site, spans: list[Span]) -> None:
    request = ExportTraceServiceRequest()
    request.resource_spans.add().scope_spans.add().spans.extend(spans)
    response = httpx.post(
        f"{site.edge.url}/v1/traces",
        content=request.SerializeToString(),
        headers={**site.agent_headers, "Content-Type": "application/x-protobuf"},  # type: ignore[attr-defined]
    )
    assert response.status_code == 200, response.text


def _pull(site: Site) -> Any:
    result = pull_edge_node(site.node.pk, worker="test")
    assert result is not None
    return result


def _ledger(site: Site) -> dict[str, str]:
    with tenant_context(site.tenant):
        return dict(UsageEvent.objects.values_list("span_id", "name"))


def _clickhouse(site: Site) -> tuple[list[str], int]:
    """Every row of the tenant in ``spans`` (no FINAL: a duplicate would show) and the
    requests its per-minute rollup counted."""
    store = get_store()
    params = {"tenant_id": site.tenant.pk}
    rows = store.query("SELECT span_id FROM spans WHERE tenant_id = {tenant_id:UUID}", params)
    (rollup,) = store.query(
        "SELECT sum(requests) AS n FROM spans_minute WHERE tenant_id = {tenant_id:UUID}", params
    )
    return sorted(row["span_id"] for row in rows), int(rollup["n"] or 0)


def _node(site: Site) -> EdgeNode:
    with tenant_context(site.tenant):
        return EdgeNode.objects.get(pk=site.node.pk)


def _letters(site: Site) -> list[DeadLetter]:
    with tenant_context(site.tenant):
        return list(DeadLetter.objects.order_by("store"))


def _span_id(number: int) -> str:
    return f"{number:016x}"


def test_the_nul_span_that_stalled_a_site_lands_with_the_character_replaced(
    configured: Site,
) -> None:
    site = configured
    _send(site, [_span(1, name="chat\x00gpt-4o"), _span(2)])

    result = _pull(site)

    assert result.error == "" and result.dead_letters == 0
    assert _ledger(site) == {_span_id(1): "chat\ufffdgpt-4o", _span_id(2): "chat"}
    assert _clickhouse(site) == ([_span_id(1), _span_id(2)], 2)
    assert _node(site).last_error == ""


def test_an_unstorable_record_becomes_a_dead_letter_and_the_rest_lands_exactly_once(
    configured: Site,
) -> None:
    site = configured
    # A token count beyond 32 bits: the edge takes any int64, the ledger's integers
    # cannot hold it (and a binary COPY would silently keep its low 32 bits).
    _send(site, [_span(n) for n in range(1, 8)])
    _send(site, [_span(8, **{"gen_ai.usage.input_tokens": 5_000_000_000})])
    _send(site, [_span(n) for n in range(9, 13)])

    result = _pull(site)

    good = [_span_id(n) for n in range(1, 13) if n != 8]
    assert result.error == "" and result.records == 12 and result.new_in_ledger == 11
    assert sorted(_ledger(site)) == good
    assert _clickhouse(site) == (good, 11)
    (letter,) = _letters(site)
    assert letter.store == "record" and letter.event_id is not None
    assert b"5000000000" in bytes(letter.raw)
    assert letter.reason == "token counts 5000000000/2 exceed 2147483647"
    node = _node(site)
    assert node.dead_letter_count == 1 and node.consecutive_failures == 0
    assert node_state(node, node.last_success_at) == DEGRADED
    with site.edge.client() as client:  # the batch was acknowledged: the spool is empty
        heartbeat = client.get("/v1/heartbeat", headers=site.node_headers()).json()
    assert heartbeat["spool"]["records"] == 0

    # Pulling again changes nothing: no second copy, no second dead letter.
    assert _pull(site).records == 0
    assert sorted(_ledger(site)) == good and _clickhouse(site) == (good, 11)
    assert len(_letters(site)) == 1


# clickhouse-connect sends the statement and then the data in the body.
_SPANS_INSERT = re.compile(rb"\s*INSERT INTO `spans` .*? FORMAT ArrowStream\n", re.DOTALL)


class ConstrainedClickHouse(ClickHouseHttpServer):
    """ClickHouse over HTTP whose ``spans`` has ``CONSTRAINT no_poison CHECK name !=
    'poison'`` and answers an insert that breaks it as a server does (code 469). The
    refusal is made here because chDB's streaming insert drops such rows without
    reporting an error."""

    refuse = True

    def execute(self, arguments: dict[str, str], body: bytes) -> Reply:
        insert = _SPANS_INSERT.match(body)
        if self.refuse and insert:
            names = pa.ipc.open_stream(body[insert.end() :]).read_all().column("name").to_pylist()
            if "poison" in names:
                raise ClickHouseError(
                    469,
                    "Code: 469. DB::Exception: Constraint `no_poison` for table "
                    f"controlplane.spans is violated at row {names.index('poison') + 1}. "
                    "(VIOLATED_CONSTRAINT)",
                )
        return super().execute(arguments, body)


@pytest.fixture
def constrained(settings: Any) -> Iterator[ConstrainedClickHouse]:
    """Both stores refuse a span named "poison" until ``_fix``: the ledger by a CHECK
    constraint (undone with the test's transaction), ClickHouse by its server."""
    server = ConstrainedClickHouse(settings.CHDB_PATH).start()
    settings.CLICKHOUSE_URL = server.dsn
    reset_store()
    with connection.cursor() as cursor:
        cursor.execute(
            "ALTER TABLE telemetry_usageevent ADD CONSTRAINT no_poison CHECK (name <> 'poison')"
        )
    try:
        yield server
    finally:
        reset_store()
        server.stop()


def _fix(server: ConstrainedClickHouse) -> None:
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE telemetry_usageevent DROP CONSTRAINT no_poison")
    server.refuse = False


def test_a_record_each_store_refuses_is_a_dead_letter_and_is_replayed_once_after_a_fix(
    configured: Site, constrained: ConstrainedClickHouse
) -> None:
    site = configured
    _send(site, [_span(n, name="poison" if n == 5 else "chat") for n in range(1, 10)])

    result = _pull(site)

    good = [_span_id(n) for n in range(1, 10) if n != 5]
    assert result.error == "" and result.dead_letters == 2 and result.new_in_ledger == 8
    assert sorted(_ledger(site)) == good
    assert _clickhouse(site) == (good, 8)
    analytics, ledger = _letters(site)
    assert (analytics.store, ledger.store) == ("analytics", "ledger")
    assert analytics.event_id == ledger.event_id is not None
    assert "VIOLATED_CONSTRAINT" in analytics.reason
    assert "no_poison" in ledger.reason  # PostgreSQL names the constraint
    assert _node(site).dead_letter_count == 2

    # Before the fix: still refused, still open, with the reason.
    with pytest.raises(CommandError, match="2 dead letters are still refused"):
        call_command("replay_dead_letters", "--tenant", site.tenant.slug, stdout=StringIO())
    assert _node(site).dead_letter_count == 2

    _fix(constrained)
    out = StringIO()
    call_command("replay_dead_letters", "--tenant", site.tenant.slug, stdout=out)

    assert out.getvalue().startswith("2 replayed, 0 still refused")
    every = [_span_id(n) for n in range(1, 10)]
    assert sorted(_ledger(site)) == every
    assert _clickhouse(site) == (every, 9)
    assert all(letter.replayed_at is not None for letter in _letters(site))
    assert _node(site).dead_letter_count == 0

    # Replaying again stores nothing twice.
    out = StringIO()
    call_command("replay_dead_letters", stdout=out)
    assert out.getvalue().startswith("0 replayed")
    assert sorted(_ledger(site)) == every and _clickhouse(site) == (every, 9)


def test_a_line_that_is_not_a_record_is_a_dead_letter_too(configured: Site) -> None:
    from controlplane.telemetry.dead_letters import Refusal, dead_letters_record

    site = configured
    dead_letters_record(
        node=site.node,
        after=0,
        upto=1,
        refusals=[Refusal(b"not json", DeadLetter.Store.RECORD, "bad spool record")],
    )
    (letter,) = _letters(site)
    assert letter.event_id is None and bytes(letter.raw) == b"not json"


def test_every_failed_pull_is_recorded_on_the_node_with_its_cause(configured: Site) -> None:
    site = configured
    _send(site, [_span(1)])
    # Not the edge and not the data: the ledger refuses the worker itself.
    with connection.cursor() as cursor:
        cursor.execute("REVOKE INSERT ON telemetry_usageevent FROM CURRENT_USER")

    result = _pull(site)

    assert "permission denied" in result.error
    node = _node(site)
    assert node.last_error.startswith("ProgrammingError: permission denied")
    assert node.last_error_at is not None and node.consecutive_failures == 1
    assert node_state(node, node.last_error_at) == DOWN

    with connection.cursor() as cursor:
        cursor.execute("GRANT INSERT ON telemetry_usageevent TO CURRENT_USER")
    assert _pull(site).error == ""
    node = _node(site)
    # up again; DEGRADED only for what the real edge reports of this busy test host
    assert node.last_error == "" and node.dead_letter_count == 0
    assert node_state(node, node.last_success_at) in (HEALTHY, DEGRADED)
    assert sorted(_ledger(site)) == [_span_id(1)]
