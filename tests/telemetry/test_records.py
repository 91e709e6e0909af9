"""Spool records into rows: what the edge wrote is what both stores get, and a record
that breaks the protocol is set aside with the reason while the rest of the batch goes
on."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import pytest

from billing.pricing import PriceBook
from controlplane.telemetry.records import MAX_TOKENS, build_batch
from tenants.models import Tenant
from tests.telemetry.records import spool_line

pytestmark = pytest.mark.django_db

WHEN = dt.datetime(2026, 5, 4, 10, tzinfo=dt.UTC)


def _build(*lines: bytes) -> Any:
    return build_batch(list(lines), prices=PriceBook([]), retention_days={})


def test_attributes_reach_clickhouse_as_the_edge_wrote_them(tenant_a: Tenant) -> None:
    attributes = {"gen_ai.request.model": "gpt-4o", "temperature": 0.25, "note": "naïve ✓"}
    batch = _build(
        spool_line(tenant_a, when=WHEN, trace=1, span=1, attributes=attributes),
        spool_line(tenant_a, when=WHEN, trace=1, span=2, attributes=None),
    )
    assert [orjson.loads(text) for text in batch.spans["attributes"]] == [attributes, {}]
    assert batch.spans["attributes"][0] == orjson.dumps(attributes).decode()


def test_event_ids_in_any_uuid_spelling_are_stored_in_canonical_form(tenant_a: Tenant) -> None:
    event = uuid.uuid4()
    spellings = [str(event).upper(), event.hex, f"{{{event}}}"]
    batch = _build(
        *(
            spool_line(tenant_a, when=WHEN, trace=1, span=n, event_id=spelling)
            for n, spelling in enumerate(spellings)
        )
    )
    assert batch.spans["event_id"] == [str(event)] * 3
    assert [row[0] for row in batch.ledger] == [event.bytes] * 3


def test_token_counts_sent_as_text_are_read_as_numbers(tenant_a: Tenant) -> None:
    line = spool_line(tenant_a, when=WHEN, trace=1, span=1, input_tokens=812)
    batch = _build(line.replace(b'"input_tokens":812', b'"input_tokens":"812"'))
    assert batch.spans["input_tokens"] == [812]


@pytest.mark.parametrize(
    "fields",
    [
        {"event_id": "not-a-uuid"},
        {"event_id": None},
        {"input_tokens": 12.5},
        {"name": 42},
        {"start_time_unix_nano": "yesterday"},
        {"data_classes": "pii"},
        {"department_id": "not-a-uuid"},
        {"input_tokens": MAX_TOKENS + 1},
    ],
    ids=lambda fields: ",".join(f"{k}={v!r}" for k, v in fields.items()),
)
def test_a_record_that_breaks_the_protocol_is_set_aside_with_the_reason(
    tenant_a: Tenant, fields: dict[str, Any]
) -> None:
    good = spool_line(tenant_a, when=WHEN, trace=1, span=1)
    bad = spool_line(tenant_a, when=WHEN, trace=1, span=2, **fields)
    batch = _build(good, bad, good)
    assert batch.lines == [good, good] and len(batch.ledger) == 2
    assert len(batch.spans["event_id"]) == 2
    ((line, reason),) = batch.rejected
    assert line == bad and reason


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b"{}", b'{"event_id": '])
def test_a_line_that_is_not_a_record_is_set_aside(line: bytes) -> None:
    batch = _build(line)
    assert batch.lines == [] and batch.ledger == []
    assert [rejected for rejected, _ in batch.rejected] == [line]


def test_a_record_of_another_tenant_is_set_aside(tenant_a: Tenant, tenant_b: Tenant) -> None:
    ours = spool_line(tenant_a, when=WHEN, trace=1, span=1)
    theirs = spool_line(tenant_b, when=WHEN, trace=1, span=2)
    batch = build_batch(
        [ours, theirs], prices=PriceBook([]), retention_days={}, tenant_id=tenant_a.pk
    )
    assert batch.lines == [ours]
    assert batch.rejected == [(theirs, f"a record of tenant {tenant_b.pk}, not the edge node's")]
