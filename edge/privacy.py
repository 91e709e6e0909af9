"""Retention and data-subject requests at the edge: what the control plane orders
removed from the spool and the response cache (docs/edge-protocol.md, "Privacy";
docs/privacy.md). Three orders, each a POST with the node token, each answered with
what was done, counted:

- ``/v1/privacy/purge``: the tenant's records that started before ``delete_before``
  are deleted; those that started before ``bodies_before`` lose their request and
  response bodies; cached answers older than ``bodies_before`` are dropped.
- ``/v1/privacy/find``: the tenant's records in which an identifier occurs (the first
  ``limit`` of them returned whole; held agents' left out) and the number of its cached
  answers holding one.
- ``/v1/privacy/erase``: every record of a trace in which an identifier occurs gets
  the tombstone for its bodies and for every other occurrence; all the tenant's cached
  answers are dropped (a cache key is a digest of the request, so a request that named
  the person cannot be told from its text).

What a legal hold covers (``held_agents``, or the whole tenant with ``hold_all``) is
kept and counted as kept. The spool's part runs on its writer thread, in one
transaction (``Spool.maintain``); the cache's on the event loop, which owns it.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from edge.bodies import BodyTooLargeError, read_body
from edge.gateway.cache import ResponseCache
from edge.identifiers import (
    TOMBSTONE,
    Identifier,
    IdentifierError,
    any_match,
    erase_json,
    parse_identifiers,
)
from edge.spool import Spool

MAX_ORDER_BYTES = 64 << 10
FIND_DEFAULT_LIMIT = 1000
FIND_MAX_LIMIT = 10000
_CHUNK = 1000

Handler = Callable[[Request], Awaitable[Response]]


class OrderError(ValueError):
    """The order is malformed; the message names the field."""


@dataclass(frozen=True)
class Order:
    tenant_id: str
    held_agents: frozenset[str]
    hold_all: bool
    delete_before: int = 0
    bodies_before: int = 0
    identifiers: tuple[Identifier, ...] = ()
    limit: int = FIND_DEFAULT_LIMIT

    def held(self, record: dict[str, Any]) -> bool:
        return self.hold_all or record.get("agent_id") in self.held_agents


def _uuid(doc: dict[str, Any], name: str) -> str:
    try:
        return str(uuid.UUID(str(doc.get(name))))
    except ValueError:
        raise OrderError(f"{name} must be a UUID") from None


def _nanos(doc: dict[str, Any], name: str) -> int:
    value = doc.get(name, 0)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise OrderError(f"{name} must be a non-negative integer (Unix nanoseconds)")
    return value


def parse_order(doc: object, kind: str) -> Order:
    if not isinstance(doc, dict):
        raise OrderError("the body must be a JSON object")
    held = doc.get("held_agents", [])
    if not isinstance(held, list):
        raise OrderError("held_agents must be a list of UUIDs")
    hold_all = doc.get("hold_all", False)
    if not isinstance(hold_all, bool):
        raise OrderError("hold_all must be true or false")
    fields: dict[str, Any] = {
        "tenant_id": _uuid(doc, "tenant_id"),
        "held_agents": frozenset(_uuid({"held_agents": a}, "held_agents") for a in held),
        "hold_all": hold_all,
    }
    if kind == "purge":
        fields["delete_before"] = _nanos(doc, "delete_before")
        fields["bodies_before"] = _nanos(doc, "bodies_before")
    else:
        try:
            fields["identifiers"] = tuple(parse_identifiers(doc.get("identifiers")))
        except IdentifierError as error:
            raise OrderError(str(error)) from None
        limit = doc.get("limit", FIND_DEFAULT_LIMIT)
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise OrderError("limit must be a non-negative integer")
        fields["limit"] = min(limit, FIND_MAX_LIMIT)
    return Order(**fields)


# --- the spool's part, on its writer thread -------------------------------------------


def _records(connection: sqlite3.Connection, tenant_id: str) -> Iterator[tuple[int, bytes]]:
    """The tenant's records in chunks, so each chunk can be changed before the next."""
    after = 0
    while True:
        rows = connection.execute(
            "SELECT cursor, body FROM spool WHERE cursor > ? AND instr(body, ?) > 0 "
            "ORDER BY cursor LIMIT ?",
            (after, tenant_id.encode(), _CHUNK),
        ).fetchall()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _own(body: bytes, tenant_id: str) -> dict[str, Any] | None:
    record = orjson.loads(body)
    return record if isinstance(record, dict) and record.get("tenant_id") == tenant_id else None


def _rewrite(connection: sqlite3.Connection, cursor: int, record: dict[str, Any]) -> None:
    connection.execute("UPDATE spool SET body = ? WHERE cursor = ?", (orjson.dumps(record), cursor))


def _purge_spool(order: Order) -> Callable[[sqlite3.Connection], dict[str, int]]:
    def work(connection: sqlite3.Connection) -> dict[str, int]:
        counts = {"records_deleted": 0, "bodies_removed": 0, "kept_under_hold": 0}
        for cursor, body in _records(connection, order.tenant_id):
            record = _own(body, order.tenant_id)
            if record is None:
                continue
            start = int(record.get("start_time_unix_nano") or 0)
            expired = start < order.delete_before
            has_bodies = bool(record.get("request_body") or record.get("response_body"))
            if not expired and not (start < order.bodies_before and has_bodies):
                continue
            if order.held(record):
                counts["kept_under_hold"] += 1
            elif expired:
                connection.execute("DELETE FROM spool WHERE cursor = ?", (cursor,))
                counts["records_deleted"] += 1
            else:
                _rewrite(connection, cursor, {**record, "request_body": "", "response_body": ""})
                counts["bodies_removed"] += 1
        return counts

    return work


def _find_spool(order: Order) -> Callable[[sqlite3.Connection], dict[str, Any]]:
    identifiers = list(order.identifiers)

    def work(connection: sqlite3.Connection) -> dict[str, Any]:
        found: list[dict[str, Any]] = []
        count = 0
        for _, body in _records(connection, order.tenant_id):
            record = _own(body, order.tenant_id)
            if record is None or order.held(record):
                continue
            if any_match(identifiers, body.decode("utf-8", "replace")):
                count += 1
                if len(found) < order.limit:
                    found.append(record)
        return {"records": count, "found": found}

    return work


def _erase_spool(order: Order) -> Callable[[sqlite3.Connection], dict[str, int]]:
    identifiers = list(order.identifiers)

    def work(connection: sqlite3.Connection) -> dict[str, int]:
        traces = set()
        for _, body in _records(connection, order.tenant_id):
            record = _own(body, order.tenant_id)
            if record is not None and any_match(identifiers, body.decode("utf-8", "replace")):
                traces.add(record.get("trace_id"))
        counts = {"records_erased": 0, "kept_under_hold": 0}
        for cursor, body in _records(connection, order.tenant_id):
            record = _own(body, order.tenant_id)
            if record is None or record.get("trace_id") not in traces:
                continue
            if order.held(record):
                counts["kept_under_hold"] += 1
                continue
            erased: Any = erase_json(identifiers, record)
            for name in ("request_body", "response_body"):
                if erased.get(name):
                    erased[name] = TOMBSTONE
            _rewrite(connection, cursor, erased)
            counts["records_erased"] += 1
        return counts

    return work


# --- the orders ------------------------------------------------------------------------


async def purge(spool: Spool, cache: ResponseCache, order: Order) -> dict[str, Any]:
    spooled = await asyncio.wrap_future(spool.maintain(_purge_spool(order)))
    dropped = 0
    if not order.hold_all and not order.held_agents:  # cached answers name no agent
        age = max(0.0, (time.time_ns() - order.bodies_before) / 1e9)
        now = cache.clock()
        dropped = cache.remove(lambda e: e.tenant_id == order.tenant_id and now - e.stored_at > age)
    return {"tenant_id": order.tenant_id, "spool": spooled, "cache": {"entries_dropped": dropped}}


async def find(spool: Spool, cache: ResponseCache, order: Order) -> dict[str, Any]:
    spooled = await asyncio.wrap_future(spool.maintain(_find_spool(order)))
    identifiers = list(order.identifiers)
    cached = cache.count(
        lambda e: (
            e.tenant_id == order.tenant_id
            and any_match(identifiers, e.content.decode("utf-8", "replace"))
        )
    )
    return {"tenant_id": order.tenant_id, "spool": spooled, "cache": {"entries": cached}}


async def erase(spool: Spool, cache: ResponseCache, order: Order) -> dict[str, Any]:
    spooled = await asyncio.wrap_future(spool.maintain(_erase_spool(order)))
    dropped = 0
    if not order.hold_all and not order.held_agents:
        dropped = cache.remove(lambda e: e.tenant_id == order.tenant_id)
    return {"tenant_id": order.tenant_id, "spool": spooled, "cache": {"entries_dropped": dropped}}


_ORDERS = {"purge": purge, "find": find, "erase": erase}


def routes(
    guard: Callable[[Handler], Handler],
    problem: Callable[[int, str], Response],
    parts: Callable[[Request], tuple[Spool, ResponseCache]],
) -> list[Route]:
    """The three order routes, behind ``guard`` (the node token)."""

    def handler(kind: str) -> Handler:
        async def handle(request: Request) -> Response:
            try:
                doc = orjson.loads(await read_body(request, MAX_ORDER_BYTES))
                order = parse_order(doc, kind)
            except BodyTooLargeError:
                return problem(413, f"the body exceeds {MAX_ORDER_BYTES} bytes")
            except orjson.JSONDecodeError:
                return problem(400, "the body must be a JSON object")
            except OrderError as error:
                return problem(400, str(error))
            spool, cache = parts(request)
            result = await _ORDERS[kind](spool, cache, order)
            return Response(orjson.dumps(result), media_type="application/json")

        return guard(handle)

    return [Route(f"/v1/privacy/{kind}", handler(kind), methods=["POST"]) for kind in _ORDERS]
