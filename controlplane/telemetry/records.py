"""Edge spool records (docs/edge-protocol.md) turned into rows for both stores."""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import msgspec
import orjson

from billing.pricing import PriceBook
from edge import residency
from edge.collector import REGISTERED, registered_agent_id
from edge.tokens import TokenCounts

NANOS = 1_000_000_000
MAX_TOKENS = 2**31 - 1
"""The most tokens one record may count: the ledger's columns are 32-bit integers."""
COST_QUANTUM = Decimal("0.000000001")
_NO_TOKENS = TokenCounts()
_NO_COST = Decimal(0).quantize(COST_QUANTUM)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_timedelta = dt.timedelta


def _time(micros: int) -> dt.datetime:
    """UTC time of a Unix microsecond timestamp."""
    try:
        # Positional (days, seconds, microseconds): a third of the keyword form's cost.
        return _EPOCH + _timedelta(0, 0, micros)
    except OverflowError as exc:  # out of datetime's range, as fromtimestamp() says
        raise ValueError(f"timestamp out of range: {micros} µs") from exc


@dataclass
class Batch:
    """The rows of one pulled batch: ledger rows in LEDGER_COLUMNS order (ids as their
    16 bytes), ClickHouse columns by name (ids as text)."""

    ledger: list[tuple[Any, ...]] = field(default_factory=list)
    spans: dict[str, list[Any]] = field(default_factory=dict)
    lines: list[bytes] = field(default_factory=list)
    """The spool line of each row."""
    rejected: list[tuple[bytes, str]] = field(default_factory=list)
    """Lines that are not a record of the protocol (or not of the expected tenant), with
    the reason: they make no row, and the rest of the batch goes on without them."""
    registrations: dict[uuid.UUID, tuple[uuid.UUID, str]] = field(default_factory=dict)
    """Agents a site collector registered (agent id → site id, name): created in the
    registry before the batch is stored (controlplane/agents/collectors.py)."""

    def __len__(self) -> int:
        return len(self.ledger)


LEDGER_COLUMNS = (
    "event_id",
    "occurred_at",
    "tenant_id",
    "department_id",
    "agent_id",
    "device_id",
    "site_id",
    "edge_node_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "kind",
    "name",
    "provider",
    "model",
    "tool",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "status",
    "latency_ms",
    "content_hash",
)
SPAN_COLUMNS = (
    "tenant_id",
    "event_id",
    "trace_id",
    "span_id",
    "parent_span_id",
    "department_id",
    "agent_id",
    "site_id",
    "edge_node_id",
    "kind",
    "name",
    "start_time",
    "end_time",
    "status",
    "status_message",
    "provider",
    "model",
    "tool",
    "input_tokens",
    "output_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "cost",
    "data_classes",
    "attributes",
    "request_body",
    "response_body",
    "content_hash",
    "retention_days",
)
ZERO_UUID = uuid.UUID(int=0)
ZERO_UUID_TEXT = str(ZERO_UUID)
_NO_ID: tuple[bytes | None, str] = (None, ZERO_UUID_TEXT)


class _Record(msgspec.Struct):
    """The fields of a spool record (docs/edge-protocol.md) that the stores keep; the
    decoder skips the others and hands ``attributes`` over as the JSON text it is."""

    event_id: str
    tenant_id: str
    agent_id: str
    edge_node_id: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    department_id: str | None = None
    device_id: str | None = None
    site_id: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    parent_span_id: str | None = None
    kind: str | None = None
    name: str | None = None
    provider: str | None = None
    model: str | None = None
    tool: str | None = None
    status: str | None = None
    status_message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cached_input_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    data_classes: tuple[str, ...] | None = None
    request_body: str | None = None
    response_body: str | None = None
    attributes: msgspec.Raw = msgspec.Raw(b"{}")


# Lax: numbers sent as strings are read as numbers, as int() did before.
_decode_record = msgspec.json.Decoder(_Record, strict=False).decode
_NULL = msgspec.Raw(b"null")


class _EventId(msgspec.Struct):
    event_id: str


_decode_event_id = msgspec.json.Decoder(_EventId).decode
_REGISTERED_KEY = orjson.dumps(REGISTERED)


def _withhold_bodies(record: _Record) -> None:
    """A residency tenant's record that reached the control plane with bodies (spooled
    before its edge learnt of the residency, or from an edge that does not know it):
    the stores get the bodies' SHA-256 and nothing else, and the attributes say the
    bodies were dropped (docs/decisions/0030-body-residency.md)."""
    attributes = orjson.loads(bytes(record.attributes)) if record.attributes != _NULL else {}
    if not isinstance(attributes, dict):
        attributes = {}
    attributes[residency.BODIES] = "dropped"
    if record.request_body:
        attributes[residency.REQUEST_SHA256] = residency.sha256_text(record.request_body)
    if record.response_body:
        attributes[residency.RESPONSE_SHA256] = residency.sha256_text(record.response_body)
    record.attributes = msgspec.Raw(orjson.dumps(attributes))
    record.request_body = record.response_body = ""


def _registration(record: _Record) -> tuple[uuid.UUID, str] | None:
    """(site id, name) of the agent a site collector registered with this record; None
    when it registered none. ValueError when the edge's claim does not hold."""
    attributes = orjson.loads(bytes(record.attributes))
    name = attributes.get(REGISTERED) if isinstance(attributes, dict) else None
    if name is None:
        return None
    if not isinstance(name, str) or not record.site_id:
        raise ValueError(f"{REGISTERED} must be a name, on a record with a site")
    if registered_agent_id(str(uuid.UUID(record.site_id)), name) != str(uuid.UUID(record.agent_id)):
        raise ValueError(f"agent {record.agent_id} is not the one the site registers as {name!r}")
    return uuid.UUID(record.site_id), name


def event_id_of(line: bytes) -> uuid.UUID | None:
    """The event id of a spool line, if it has a readable one (for lines rejected)."""
    try:
        return uuid.UUID(_decode_event_id(line).event_id)
    except ValueError:
        return None


def _event_id(text: str) -> tuple[bytes, str]:
    """A UUID's 16 bytes and canonical text. Unique per record, so the common canonical
    form is read with ``bytes.fromhex``, at a fraction of ``uuid.UUID``'s cost."""
    if len(text) == 36 and text[8] == text[13] == text[18] == text[23] == "-":
        raw = bytes.fromhex(text.replace("-", ""))
        if len(raw) == 16:
            return raw, text.lower()
    parsed = uuid.UUID(text)
    return parsed.bytes, str(parsed)


def build_batch(
    lines: list[bytes],
    *,
    prices: PriceBook,
    retention_days: dict[uuid.UUID, int],
    tenant_id: uuid.UUID | None = None,
    resident: frozenset[uuid.UUID] = frozenset(),
) -> Batch:
    """Rows for the ledger (narrow) and ClickHouse (everything), from spool lines.

    A line that breaks the protocol, or names a tenant other than ``tenant_id`` (the
    edge node's, when given), goes to ``rejected`` instead (a node serves one tenant).
    The bodies of ``resident`` tenants' records are never stored, only their SHA-256.

    Ledger rows hold ids as their 16 bytes (what ledger_insert's binary COPY sends);
    the ClickHouse columns hold their canonical text (what ``spans_insert`` sends),
    with the zero UUID for no department or site.

    The hot path of ingestion (bench/ingest_pipeline.py): each line decoded straight into
    the fields kept (``_Record``), one pass, columns appended through bound methods, and
    the ids that repeat in a batch (tenant, agent, device, site, node, department) parsed
    once per batch.
    """
    # Every row is a few new container objects (tuples, lists), none of them garbage, yet
    # a batch of 20,000 sets off ~50 passes of the cyclic collector and, every third
    # batch or so, a full pass over the worker's heap (~0.1 s with Django and two batches
    # in it): build the rows with it paused. Another thread may pause it too; whoever
    # found it running turns it back on.
    running = gc.isenabled()
    gc.disable()
    try:
        return _rows(
            lines,
            prices=prices,
            retention_days=retention_days,
            tenant_id=tenant_id,
            resident=resident,
        )
    finally:
        if running:
            gc.enable()


def _rows(
    lines: list[bytes],
    *,
    prices: PriceBook,
    retention_days: dict[uuid.UUID, int],
    tenant_id: uuid.UUID | None = None,
    resident: frozenset[uuid.UUID] = frozenset(),
) -> Batch:
    batch = Batch(spans={name: [] for name in SPAN_COLUMNS})
    spans = batch.spans
    ledger_append = batch.ledger.append
    (
        tenant_ids,
        event_ids,
        trace_ids,
        span_ids,
        parent_span_ids,
        department_ids,
        agent_ids,
        site_ids,
        edge_node_ids,
        kinds,
        names,
        start_times,
        end_times,
        statuses,
        status_messages,
        providers,
        models,
        tools,
        input_tokens_column,
        output_tokens_column,
        cached_input_column,
        cache_write_column,
        reasoning_column,
        costs,
        data_classes,
        attributes,
        request_bodies,
        response_bodies,
        content_hashes,
        retention_column,
    ) = (spans[name].append for name in SPAN_COLUMNS)
    ids: dict[str, tuple[bytes, str]] = {}

    def repeated_uuid(value: str) -> tuple[bytes, str]:
        """The id's 16 bytes and canonical text, parsed once per batch (``known`` first)."""
        as_uuid = uuid.UUID(value)
        parsed = ids[value] = (as_uuid.bytes, str(as_uuid))
        return parsed

    known = ids.get

    retention = {str(tenant): days for tenant, days in retention_days.items()}
    resident_texts = {str(tenant) for tenant in resident}
    sha256 = hashlib.sha256
    expected_tenant = str(tenant_id) if tenant_id is not None else None
    reject = batch.rejected.append
    line_append = batch.lines.append
    for line in lines:
        try:
            record = _decode_record(line)
            event_id, event_text = _event_id(record.event_id)
            # The cache is looked up inline: a call per id was a tenth of the loop.
            value = record.tenant_id
            record_tenant, tenant_text = known(value) or repeated_uuid(value)
            value = record.agent_id
            agent_id, agent_text = known(value) or repeated_uuid(value)
            value = record.edge_node_id
            edge_node_id, edge_node_text = known(value) or repeated_uuid(value)
            optional = record.department_id
            department_id, department_text = (
                (known(optional) or repeated_uuid(optional)) if optional else _NO_ID
            )
            optional = record.site_id
            site_id, site_text = (
                (known(optional) or repeated_uuid(optional)) if optional else _NO_ID
            )
            optional = record.device_id
            device_id = (known(optional) or repeated_uuid(optional))[0] if optional else None
            # Truncated to microseconds, the datetimes' precision.
            start_micros = record.start_time_unix_nano // 1000
            end_micros = record.end_time_unix_nano // 1000
            start = _time(start_micros)
            end = _time(end_micros)
            registration = (
                _registration(record) if _REGISTERED_KEY in bytes(record.attributes) else None
            )
        except ValueError as exc:  # msgspec's and orjson's errors are ValueErrors
            reject((line, f"bad spool record: {exc}"))
            continue
        if expected_tenant is not None and tenant_text != expected_tenant:
            reject((line, f"a record of tenant {tenant_text}, not the edge node's"))
            continue
        # Most spans (steps, tools) count no tokens: one shared zero, nothing to price.
        counted = (
            record.input_tokens
            or record.output_tokens
            or record.cached_input_tokens
            or record.cache_write_tokens
            or record.reasoning_tokens
        )
        tokens = (
            TokenCounts.of(
                record.input_tokens,
                record.output_tokens,
                record.cached_input_tokens,
                record.cache_write_tokens,
                record.reasoning_tokens,
            )
            if counted
            else _NO_TOKENS
        )
        if tokens.input_tokens > MAX_TOKENS or tokens.output_tokens > MAX_TOKENS:
            # The binary COPY would not refuse it: it would keep the low 32 bits.
            too_many = f"{tokens.input_tokens}/{tokens.output_tokens}"
            reject((line, f"token counts {too_many} exceed {MAX_TOKENS}"))
            continue
        line_append(line)
        if registration is not None:
            batch.registrations[uuid.UUID(agent_text)] = registration
        if (record.request_body or record.response_body) and tenant_text in resident_texts:
            _withhold_bodies(record)
        provider = record.provider or ""
        model = record.model or ""
        cost = (
            prices.cost(provider, model, start, tokens).quantize(COST_QUANTUM)
            if counted
            else _NO_COST
        )
        content_hash = sha256(line).hexdigest()
        # What (end - start).total_seconds() * 1000 gives, without the timedelta.
        latency_ms = max((end_micros - start_micros) / 1_000_000 * 1000, 0.0)
        trace_id = (record.trace_id or "")[:32]
        span_id = (record.span_id or "")[:16]
        parent_span_id = (record.parent_span_id or "")[:16]
        kind = (record.kind or "step")[:10]
        name = (record.name or "")[:200]
        tool = (record.tool or "")[:200]
        status = (record.status or "ok")[:10]
        ledger_append(
            (
                event_id,
                start,
                record_tenant,
                department_id,
                agent_id,
                device_id,
                site_id,
                edge_node_id,
                trace_id,
                span_id,
                parent_span_id,
                kind,
                name,
                provider[:100],
                model[:200],
                tool,
                tokens.input_tokens,
                tokens.output_tokens,
                tokens.cached_input_tokens,
                tokens.cache_write_tokens,
                tokens.reasoning_tokens,
                cost,
                status,
                latency_ms,
                content_hash,
            )
        )
        raw_attributes = record.attributes
        tenant_ids(tenant_text)
        event_ids(event_text)
        trace_ids(trace_id)
        span_ids(span_id)
        parent_span_ids(parent_span_id)
        department_ids(department_text)
        agent_ids(agent_text)
        site_ids(site_text)
        edge_node_ids(edge_node_text)
        kinds(kind)
        names(name)
        start_times(start)
        end_times(end)
        statuses(status)
        status_messages(record.status_message or "")
        providers(provider)
        models(model)
        tools(tool)
        input_tokens_column(tokens.input_tokens)
        output_tokens_column(tokens.output_tokens)
        cached_input_column(tokens.cached_input_tokens)
        cache_write_column(tokens.cache_write_tokens)
        reasoning_column(tokens.reasoning_tokens)
        costs(cost)
        # A tuple, not a list: a list per row outlives the batch's young-generation pass
        # (tuples of text are untracked there), and 20,000 of them per batch set off
        # full passes of the cyclic collector over the worker's heap.
        data_classes(record.data_classes or ())
        # The edge writes records with orjson, so the attributes' text is already what
        # orjson.dumps of them gives.
        attributes("{}" if raw_attributes == _NULL else str(raw_attributes, "utf-8"))
        request_bodies(record.request_body or "")
        response_bodies(record.response_body or "")
        content_hashes(content_hash)
        retention_column(retention.get(tenant_text, 395))
    return batch
