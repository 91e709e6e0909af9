"""Pulling one edge node: lease, pull a batch, write both stores, then ack.

Exactly once, step by step (docs/decisions/0007-exactly-once-ingest.md, with the order of
step 2 from 0009-ingest-concurrency.md):
1. A lease on the node row lets one worker pull it at a time; it expires, so a killed
   worker's node is taken over.
2. The batch is remembered as the node's *pending* batch (after and upto cursors and its
   size) and committed. Then both stores get it at the same time: the ledger with
   ``ON CONFLICT DO NOTHING`` on the event id, ClickHouse with the insert deduplication
   token ``node:after:upto:digest``.
   A retry of a pending batch re-pulls exactly the same records (``limit`` = its size;
   nothing is deleted at the edge before the ack), so the ledger skips what it has and
   the token matches, so ClickHouse drops the copy.
3. Once both inserts succeeded, the node's cursor moves to ``upto`` and, in the same
   transaction, the next batch becomes pending (or none); only then is the edge told to
   delete (ack). A lost ack is repeated at the next pull.

Within one run, helper threads do what needs no Postgres (``_Pipeline``): the next batch
is pulled and prepared while this one is written, the ClickHouse insert runs next to the
ledger insert, and acks are sent behind (bench/README.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from django.conf import settings
from django.db import connection
from django.utils import timezone

from billing.pricing import PriceBook
from controlplane.agents.collectors import collector_agents_register
from controlplane.agents.models import EdgeNode, Site
from controlplane.agents.services import edge_node_token, edge_node_version_observe
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.bundle import FORMAT as BUNDLE_FORMAT
from controlplane.gateway.bundle import plain_document, publish, signed_bundle
from controlplane.gateway.services import PULL_ACTOR, allowances_refresh
from controlplane.security.edge_findings import after_pull
from controlplane.telemetry.dead_letters import Refusal, dead_letters_record
from controlplane.telemetry.edge_client import EdgeClient, EdgeUnavailable, Pulled
from controlplane.telemetry.isolation import (
    analytics_refused,
    ledger_insert_isolating,
    reason,
    spans_insert_isolating,
)
from controlplane.telemetry.models import DeadLetter
from controlplane.telemetry.records import Batch, build_batch
from controlplane.telemetry.spans import spans_insert, spans_table
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_BACKOFF = dt.timedelta(minutes=5)


@dataclass
class PullResult:
    batches: int = 0
    records: int = 0
    new_in_ledger: int = 0
    dead_letters: int = 0
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
    leased_at = time.monotonic()
    if not acquire_lease(node_id, worker):
        return None
    result = PullResult()
    try:
        with all_tenants_context():
            node = EdgeNode.unscoped.select_related("site").get(pk=node_id)
        token = edge_node_token(node)
        with EdgeClient(node.pull_url, token) as edge, _Pipeline(edge, node) as pipeline:
            _sync_node(node, edge, token)
            _drain(node, edge, pipeline, result, worker=worker, leased_at=leased_at)
            pipeline.wait_for_acks()
            after_pull(node=node, edge=edge, new_records=result.records)
        _record_success(node)
    except Exception as exc:  # every failure is recorded on the node, whatever its kind
        result.error = reason(exc)
        if isinstance(exc, EdgeUnavailable):
            logger.warning("pull of edge node %s failed: %s", node_id, exc)
        else:
            logger.exception("pull of edge node %s failed", node_id)
        _record_failure(node_id, result.error)
    finally:
        release_lease(node_id, worker)
    return result


def push_config_now(node_id: uuid.UUID) -> int:
    """The fast path of a change that cannot wait for the next pull (a quarantine):
    push the site's current bundle to the node if it is behind, without the pull lease
    (a push is idempotent, and the edge ignores a version older than its own)."""
    with all_tenants_context():
        node = EdgeNode.unscoped.select_related("site").get(pk=node_id)
    token = edge_node_token(node)
    with EdgeClient(node.pull_url, token) as edge:
        heartbeat = edge.heartbeat()
        applied = int(heartbeat.get("config_version") or 0)
        with tenant_context(node.tenant_id):
            version = Site.objects.values_list("config_version", flat=True).get(pk=node.site_id)
        if applied >= version:
            return applied
        return _push_config(node, edge, heartbeat, token)


def _drain(
    node: EdgeNode,
    edge: EdgeClient,
    pipeline: _Pipeline,
    result: PullResult,
    *,
    worker: str,
    leased_at: float,
) -> None:
    """Write batches until the edge has no full batch left or the time budget is spent.

    Each batch is pending before either store sees it; once both have it, one commit
    moves the cursor past it and makes the next batch (pulled meanwhile) pending.
    """
    deadline = time.monotonic() + settings.EDGE_PULL_TIME_BUDGET_SECONDS
    batch_size = settings.EDGE_PULL_BATCH_SIZE
    retried = node.pending_after is not None
    prepared = _first_batch(node, edge, pipeline)
    while prepared is not None:
        upto = prepared.pulled.next_cursor
        full = len(prepared.pulled.lines) >= batch_size
        go_on = (full or retried) and time.monotonic() < deadline
        if full and go_on:
            pipeline.prepare_ahead(after=upto, limit=batch_size)
        _insert_batch(node, prepared, pipeline, result)
        following: _Prepared | None = None
        failure: EdgeUnavailable | None = None
        if go_on:
            try:
                following = pipeline.prepared(after=upto, limit=batch_size)
            except EdgeUnavailable as exc:
                failure = exc  # raised once this batch's cursor is committed
            if following is not None and not following.pulled.lines:
                following = None
        _advance(node, upto, pending=following)
        pipeline.ack(upto)
        if failure is not None:
            raise failure
        prepared, retried = following, False
        # Extended once a quarter of it has run out rather than after every batch (one
        # statement less per batch); a batch would have to take three quarters of the
        # lease to outlive it.
        if time.monotonic() - leased_at > settings.EDGE_PULL_LEASE_SECONDS / 4:
            leased_at = time.monotonic()
            if not acquire_lease(node.pk, worker):  # extends our own lease
                return


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
    edge_node_version_observe(
        node=node, version=str(heartbeat.get("version") or ""), at=node.heartbeat_at
    )
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


@dataclass(frozen=True)
class _Prepared:
    """A pulled batch, parsed and priced, with what ClickHouse is sent: ``table``, or
    ``table_error`` when some record cannot be made into ClickHouse's columns."""

    after: int
    pulled: Pulled
    batch: Batch
    table: pa.Table | None
    table_error: Exception | None
    digest: str

    @property
    def upto(self) -> int:
        return self.pulled.next_cursor


class _Pipeline:
    """The helper threads of one pull run (docs/decisions/0009-ingest-concurrency.md).

    - ``prepare``: the next batch is pulled and prepared (parsed, priced, its Arrow table
      and digest) while this one is written. Reading is harmless: a batch is used only if
      the cursor is still where it was pulled from, and nothing is deleted before an ack.
    - ``clickhouse``: the ClickHouse insert of a batch runs next to its ledger insert,
      once the batch is recorded as pending.
    - ``edge-io``: acks are sent behind; an ack is only a hint to delete and a lost one is
      repeated at the next pull. An ack's failure is raised by the next ``ack`` or
      ``wait_for_acks``.

    Only the worker's own thread talks to Postgres (Django connections are per thread):
    prices and retention are loaded once per run, before the threads start.
    """

    def __init__(self, edge: EdgeClient, node: EdgeNode) -> None:
        self._edge = edge
        self._node = node
        tenant = Tenant.objects.get(pk=node.tenant_id)
        self._prices = PriceBook.load()
        self._retention_days = {tenant.pk: tenant.retention_days}
        self._resident = frozenset({tenant.pk}) if tenant.body_residency else frozenset()
        self._prepare = ThreadPoolExecutor(1, thread_name_prefix="ingest-prepare")
        self._clickhouse = ThreadPoolExecutor(1, thread_name_prefix="clickhouse-insert")
        self._edge_io = ThreadPoolExecutor(1, thread_name_prefix="edge-io")
        self._ahead: tuple[int, int, Future[_Prepared]] | None = None
        self._acks: list[Future[None]] = []

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        for pool in (self._prepare, self._clickhouse, self._edge_io):
            pool.shutdown(wait=True, cancel_futures=True)

    def prepare(self, after: int, pulled: Pulled) -> _Prepared:
        """Everything about a batch that needs no store."""
        batch = build_batch(
            pulled.lines,
            prices=self._prices,
            retention_days=self._retention_days,
            tenant_id=self._node.tenant_id,
            resident=self._resident,
        )
        # The content digest keeps the token unique if a node ever reuses cursors.
        digest = _digest(pulled.lines)
        table, table_error = None, None
        try:
            table = spans_table(batch.spans)
        except Exception as exc:
            if not analytics_refused(exc):
                raise
            table_error = exc
        return _Prepared(after, pulled, batch, table, table_error, digest)

    def prepare_ahead(self, *, after: int, limit: int) -> None:
        self._ahead = (after, limit, self._prepare.submit(self._pull_and_prepare, after, limit))

    def prepared(self, *, after: int, limit: int) -> _Prepared:
        """The batch after ``after``: the one prepared ahead if it starts there."""
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[:2] == (after, limit):
            return ahead[2].result()
        return self._pull_and_prepare(after, limit)

    def _pull_and_prepare(self, after: int, limit: int) -> _Prepared:
        return self.prepare(after, self._edge.pull_batch(after=after, limit=limit))

    def insert_spans(self, prepared: _Prepared, *, dedup_token: str) -> Future[None] | None:
        if prepared.table is None:
            return None
        return self._clickhouse.submit(spans_insert, prepared.table, dedup_token=dedup_token)

    def ack(self, cursor: int) -> None:
        for future in [future for future in self._acks if future.done()]:
            self._acks.remove(future)
            future.result()  # an earlier ack's failure
        self._acks.append(self._edge_io.submit(self._edge.ack, cursor))

    def wait_for_acks(self) -> None:
        acks, self._acks = self._acks, []
        for future in acks:
            future.result()


def _digest(lines: list[bytes]) -> str:
    """SHA-256 of the lines joined by newlines (the first 32 hex digits), fed line by
    line rather than joined: the same digest without a copy of the batch."""
    digest = hashlib.sha256()
    for index, line in enumerate(lines):
        if index:
            digest.update(b"\n")
        digest.update(line)
    return digest.hexdigest()[:32]


def _first_batch(node: EdgeNode, edge: EdgeClient, pipeline: _Pipeline) -> _Prepared | None:
    """The node's pending batch, re-pulled exactly, or else the batch at its cursor,
    recorded as pending before either store sees a row. None if the edge has nothing."""
    if node.pending_after is not None:
        assert node.pending_upto is not None and node.pending_count is not None
        pulled = edge.pull_batch(after=node.pending_after, limit=node.pending_count)
        if pulled.next_cursor != node.pending_upto or len(pulled.lines) != node.pending_count:
            raise EdgeUnavailable(
                f"edge node no longer holds pending batch {node.pending_after}..{node.pending_upto}"
            )
        return pipeline.prepare(node.pending_after, pulled)
    prepared = pipeline.prepared(after=node.cursor, limit=settings.EDGE_PULL_BATCH_SIZE)
    if not prepared.pulled.lines:
        return None
    _advance(node, node.cursor, pending=prepared)
    return prepared


def _insert_batch(
    node: EdgeNode, prepared: _Prepared, pipeline: _Pipeline, result: PullResult
) -> None:
    """Both idempotent inserts at once, of a batch already committed as pending: from
    then on a retry re-pulls exactly this batch, so the ledger's ``ON CONFLICT DO
    NOTHING`` and the ClickHouse token make the two inserts safe to run concurrently and
    in any order.

    A store that refuses the batch for its data gets every record it takes, found by
    bisection (``isolation.py``); the records it refused, and the lines that are not
    records at all, become dead letters, and the batch goes on without them.
    """
    token = f"{node.pk}:{prepared.after}:{prepared.upto}:{prepared.digest}"
    register_agents(node.tenant_id, prepared.batch)
    spans = pipeline.insert_spans(prepared, dedup_token=token)
    try:
        new_rows, ledger_refusals = ledger_insert_isolating(node.tenant_id, prepared.batch.ledger)
    finally:
        if spans is not None:
            wait([spans])  # never leave an insert running behind a failure
    failure = spans.exception() if spans is not None else prepared.table_error
    analytics_refusals = (
        spans_insert_isolating(prepared.batch.spans, failure, token) if failure else {}
    )
    # bytes(): a pulled line is a view into its pull's body (edge_client._lines).
    refusals = [
        Refusal(bytes(line), DeadLetter.Store.RECORD, why) for line, why in prepared.batch.rejected
    ]
    refusals += _refusals(prepared.batch, ledger_refusals, DeadLetter.Store.LEDGER)
    refusals += _refusals(prepared.batch, analytics_refusals, DeadLetter.Store.ANALYTICS)
    if refusals:
        dead_letters_record(node=node, after=prepared.after, upto=prepared.upto, refusals=refusals)
    result.batches += 1
    result.records += len(prepared.pulled.lines)
    result.new_in_ledger += new_rows
    result.dead_letters += len(refusals)


def register_agents(tenant_id: uuid.UUID, batch: Batch) -> None:
    """Create the agents site collectors registered with the batch's spans (once: an
    agent that exists is left alone), so they are in the registry with their data."""
    by_site: dict[uuid.UUID, dict[uuid.UUID, str]] = {}
    for agent_id, (site_id, name) in batch.registrations.items():
        by_site.setdefault(site_id, {})[agent_id] = name
    for site_id, names in by_site.items():
        collector_agents_register(tenant_id=tenant_id, site_id=site_id, names=names)


def _refusals(batch: Batch, refused: dict[int, str], store: str) -> list[Refusal]:
    return [
        Refusal(bytes(batch.lines[index]), store, why) for index, why in sorted(refused.items())
    ]


def _advance(node: EdgeNode, cursor: int, *, pending: _Prepared | None) -> None:
    """One transaction: the cursor (past every batch in both stores) and the pending
    batch (the next one to write, or none). Between batches of a run this is a single
    commit that both finishes one batch and starts the next."""
    after = upto = count = None
    if pending is not None:
        after, upto, count = pending.after, pending.pulled.next_cursor, len(pending.pulled.lines)
    with tenant_context(node.tenant_id):
        EdgeNode.objects.filter(pk=node.pk).update(
            cursor=cursor, pending_after=after, pending_upto=upto, pending_count=count
        )
    node.cursor = cursor
    node.pending_after, node.pending_upto, node.pending_count = after, upto, count


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
    now = timezone.now()
    with all_tenants_context():
        node = EdgeNode.unscoped.get(pk=node_id)
        failures = node.consecutive_failures + 1
        delay = min(
            dt.timedelta(seconds=settings.EDGE_PULL_INTERVAL_SECONDS * 2 ** min(failures, 10)),
            MAX_BACKOFF,
        )
        EdgeNode.unscoped.filter(pk=node_id).update(
            last_pull_at=now,
            last_error=error[:2000],
            last_error_at=now,
            consecutive_failures=failures,
            next_attempt_at=now + delay,
        )
