"""Pulling one edge node: lease, pull a batch, write both stores, then ack.

Exactly once, step by step (docs/decisions/0007-exactly-once-ingest.md):
1. A lease on the node row lets one worker pull it at a time; it expires, so a killed
   worker's node is taken over.
2. The batch is written to the ledger (``ON CONFLICT DO NOTHING`` on the event id) and,
   in the same transaction, remembered as the node's *pending* batch: after and upto
   cursors and its size.
3. ClickHouse gets the batch with the insert deduplication token
   ``node:after:upto:digest``.
   A retry of a pending batch re-pulls exactly the same records (``limit`` = its size;
   nothing is deleted at the edge before the ack), so the token matches and ClickHouse
   drops the copy.
4. The node's cursor moves to ``upto`` and the pending batch is cleared; only then is the
   edge told to delete (ack). A lost ack is repeated at the next pull.

Within one run the edge requests go through a background thread: the next batch is
pulled while this one is written (pulling deletes nothing) and acks are sent behind, so
the edge works while the worker does (bench/README.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.pricing import PriceBook
from controlplane.agents.models import EdgeNode, Site
from controlplane.agents.services import edge_node_token
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.bundle import FORMAT as BUNDLE_FORMAT
from controlplane.gateway.bundle import plain_document, publish, signed_bundle
from controlplane.gateway.services import PULL_ACTOR, allowances_refresh
from controlplane.telemetry.edge_client import EdgeClient, EdgeUnavailable, Pulled
from controlplane.telemetry.ledger import ledger_insert
from controlplane.telemetry.records import RecordError, build_batch
from controlplane.telemetry.spans import spans_insert, spans_table
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(minutes=5)


@dataclass
class PullResult:
    batches: int = 0
    records: int = 0
    new_in_ledger: int = 0
    error: str = ""


def acquire_lease(node_id: uuid.UUID, owner: str) -> bool:
    with all_tenants_context(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE agents_edgenode SET lease_owner = %s, "
            "lease_expires_at = now() + make_interval(secs => %s) "
            "WHERE id = %s AND (lease_expires_at IS NULL OR lease_expires_at < now() "
            "OR lease_owner = %s)",
            [owner, settings.EDGE_PULL_LEASE_SECONDS, node_id, owner],
        )
        return cursor.rowcount == 1


def release_lease(node_id: uuid.UUID, owner: str) -> None:
    with all_tenants_context():
        EdgeNode.unscoped.filter(pk=node_id, lease_owner=owner).update(
            lease_owner="", lease_expires_at=None
        )


def pull_edge_node(node_id: uuid.UUID, *, worker: str) -> PullResult | None:
    """Drain up to a time budget of batches from one node. None if another worker has it."""
    if not acquire_lease(node_id, worker):
        return None
    result = PullResult()
    try:
        with all_tenants_context():
            node = EdgeNode.unscoped.select_related("site").get(pk=node_id)
        token = edge_node_token(node)
        with EdgeClient(node.pull_url, token) as edge, _EdgeIO(edge) as edge_io:
            _sync_node(node, edge, token)
            deadline = time.monotonic() + settings.EDGE_PULL_TIME_BUDGET_SECONDS
            while time.monotonic() < deadline:
                pulled = _pull_one_batch(node, edge, edge_io, result)
                if pulled < settings.EDGE_PULL_BATCH_SIZE and node.pending_after is None:
                    break
                if not acquire_lease(node_id, worker):  # extends our own lease
                    break
            edge_io.wait_for_acks()
        _record_success(node)
    except (EdgeUnavailable, RecordError) as exc:
        result.error = str(exc)
        logger.warning("pull of edge node %s failed: %s", node_id, exc)
        _record_failure(node_id, str(exc))
    finally:
        release_lease(node_id, worker)
    return result


def _sync_node(node: EdgeNode, edge: EdgeClient, token: str) -> None:
    """Heartbeat, budget allowances, config push if the node is behind, and a repeat of
    a lost ack."""
    heartbeat = edge.heartbeat()
    # Top up the node's budget allowances from the ledger first: a grown allowance
    # raises the site's version, so the bundle pushed below already carries it.
    allowances_refresh(node)
    applied = int(heartbeat.get("config_version") or 0)
    with tenant_context(node.tenant_id):
        version = Site.objects.values_list("config_version", flat=True).get(pk=node.site_id)
    if applied < version:
        node.config_version_applied = _push_config(node, edge, heartbeat, token)
    else:
        node.config_version_applied = applied
    node.heartbeat = heartbeat
    node.heartbeat_at = timezone.now()
    spool = heartbeat.get("spool") or {}
    if int(spool.get("last_cursor") or 0) < node.cursor:
        # The node lost its spool (a new data directory): its cursors restarted. Pull
        # from the start; the ledger and ClickHouse drop events they already have.
        logger.warning("edge node %s restarted its spool; pulling from 0", node.pk)
        node.cursor = 0
        node.pending_after = node.pending_upto = node.pending_count = None
        with tenant_context(node.tenant_id):
            EdgeNode.objects.filter(pk=node.pk).update(
                cursor=0, pending_after=None, pending_upto=None, pending_count=None
            )
    elif node.cursor > int(spool.get("acked_cursor") or 0):
        edge.ack(node.cursor)
    with tenant_context(node.tenant_id):
        EdgeNode.objects.filter(pk=node.pk).update(
            heartbeat=node.heartbeat,
            heartbeat_at=node.heartbeat_at,
            config_version_applied=node.config_version_applied,
        )


def _push_config(node: EdgeNode, edge: EdgeClient, heartbeat: dict[str, Any], token: str) -> int:
    """Publish the site's current version and push it: the signed bundle to an edge that
    lists it in its heartbeat's ``config_formats``, else the plain v1 document, which
    carries no provider keys and no gateway sections (docs/gateway.md, "Pushing")."""
    published = publish(site_id=node.site_id, tenant_id=node.tenant_id, actor=PULL_ACTOR)
    if BUNDLE_FORMAT in (heartbeat.get("config_formats") or []):
        edge.put_config(signed_bundle(node=node, published=published, node_token=token))
    else:
        edge.put_config(plain_document(node=node, published=published))
    return published.version


class _EdgeIO:
    """The edge's side of the loop in one background thread, so that the edge works
    while this worker writes: the next batch is pulled ahead (reading is harmless: the
    batch is used only if the cursor is still where it was pulled from) and acks are
    sent behind (an ack is only a hint to delete; a lost one is repeated at the next
    pull). Requests run in the order submitted; an ack's failure is raised by the next
    ``wait_for_acks``."""

    def __init__(self, edge: EdgeClient) -> None:
        self._edge = edge
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="edge-io")
        self._ahead: tuple[int, int, Future[Pulled]] | None = None
        self._acks: list[Future[None]] = []

    def __enter__(self) -> _EdgeIO:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def pull_ahead(self, *, after: int, limit: int) -> None:
        self._ahead = (after, limit, self._pool.submit(self._edge.pull, after=after, limit=limit))

    def pull(self, *, after: int, limit: int) -> Pulled:
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (after, limit):
            return ahead[2].result()
        return self._edge.pull(after=after, limit=limit)

    def ack(self, cursor: int) -> None:
        for future in [future for future in self._acks if future.done()]:
            self._acks.remove(future)
            future.result()  # an earlier ack's failure
        self._acks.append(self._pool.submit(self._edge.ack, cursor))

    def wait_for_acks(self) -> None:
        acks, self._acks = self._acks, []
        for future in acks:
            future.result()


def _pull_one_batch(node: EdgeNode, edge: EdgeClient, edge_io: _EdgeIO, result: PullResult) -> int:
    if node.pending_after is not None:
        assert node.pending_upto is not None and node.pending_count is not None
        pulled = edge.pull(after=node.pending_after, limit=node.pending_count)
        if pulled.next_cursor != node.pending_upto or len(pulled.lines) != node.pending_count:
            raise EdgeUnavailable(
                f"edge node no longer holds pending batch {node.pending_after}..{node.pending_upto}"
            )
        after = node.pending_after
    else:
        after = node.cursor
        pulled = edge_io.pull(after=after, limit=settings.EDGE_PULL_BATCH_SIZE)
        if not pulled.lines:
            return 0
    if len(pulled.lines) >= settings.EDGE_PULL_BATCH_SIZE:
        # The loop goes on with the next batch: let the edge serve it meanwhile.
        edge_io.pull_ahead(after=pulled.next_cursor, limit=settings.EDGE_PULL_BATCH_SIZE)
    _write_batch(node, after, pulled, result)
    edge_io.ack(pulled.next_cursor)
    return len(pulled.lines)


def _write_batch(node: EdgeNode, after: int, pulled: Pulled, result: PullResult) -> None:
    tenant = Tenant.objects.get(pk=node.tenant_id)
    with tenant_context(node.tenant_id):
        batch = build_batch(
            pulled.lines, prices=PriceBook.load(), retention_days={tenant.pk: tenant.retention_days}
        )
        foreign = {str(t) for t in batch.spans["tenant_id"]} - {str(node.tenant_id)}
        if foreign:
            raise RecordError(f"edge node {node.pk} sent records of other tenants: {foreign}")
        with ThreadPoolExecutor(1, thread_name_prefix="spans-prep") as prepare:
            # Built while Postgres inserts (the ledger insert waits without the GIL);
            # ClickHouse still gets the batch only after the ledger transaction.
            table = prepare.submit(spans_table, batch.spans)
            # The content digest keeps the token unique if a node ever reuses cursors.
            digest = prepare.submit(_digest, pulled.lines)
            new_rows = ledger_insert(batch.ledger)
            EdgeNode.objects.filter(pk=node.pk).update(
                pending_after=after,
                pending_upto=pulled.next_cursor,
                pending_count=len(pulled.lines),
            )
    spans_insert(
        table.result(), dedup_token=f"{node.pk}:{after}:{pulled.next_cursor}:{digest.result()}"
    )
    with tenant_context(node.tenant_id):
        EdgeNode.objects.filter(pk=node.pk).update(
            cursor=pulled.next_cursor, pending_after=None, pending_upto=None, pending_count=None
        )
    node.cursor = pulled.next_cursor
    node.pending_after = node.pending_upto = node.pending_count = None
    result.batches += 1
    result.records += len(pulled.lines)
    result.new_in_ledger += new_rows


def _digest(lines: list[bytes]) -> str:
    return hashlib.sha256(b"\n".join(lines)).hexdigest()[:32]


def _record_success(node: EdgeNode) -> None:
    now = timezone.now()
    with tenant_context(node.tenant_id):
        EdgeNode.objects.filter(pk=node.pk).update(
            last_pull_at=now,
            last_success_at=now,
            last_error="",
            consecutive_failures=0,
            next_attempt_at=None,
        )


def _record_failure(node_id: uuid.UUID, error: str) -> None:
    with all_tenants_context():
        node = EdgeNode.unscoped.get(pk=node_id)
        failures = node.consecutive_failures + 1
        delay = min(
            dt.timedelta(seconds=settings.EDGE_PULL_INTERVAL_SECONDS * 2 ** min(failures, 10)),
            MAX_BACKOFF,
        )
        EdgeNode.unscoped.filter(pk=node_id).update(
            last_pull_at=timezone.now(),
            last_error=error[:2000],
            consecutive_failures=failures,
            next_attempt_at=timezone.now() + delay,
        )
