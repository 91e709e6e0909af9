"""Spool records into rows: what the edge wrote is what both stores get, and a record
that breaks the protocol is refused as a whole batch."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import orjson
import pytest

from billing.pricing import PriceBook
from controlplane.telemetry.records import RecordError, build_batch
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
    ],
    ids=lambda fields: ",".join(f"{k}={v!r}" for k, v in fields.items()),
)
def test_a_record_that_breaks_the_protocol_fails_the_batch(
    tenant_a: Tenant, fields: dict[str, Any]
) -> None:
    good = spool_line(tenant_a, when=WHEN, trace=1, span=1)
    bad = spool_line(tenant_a, when=WHEN, trace=1, span=2, **fields)
    with pytest.raises(RecordError):
        _build(good, bad)


@pytest.mark.parametrize("line", [b"not json", b"[1, 2]", b"{}", b'{"event_id": '])
def test_a_line_that_is_not_a_record_fails_the_batch(line: bytes) -> None:
    with pytest.raises(RecordError):
        _build(line)
