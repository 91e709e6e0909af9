"""The server stack as separate processes: gunicorn, a Celery worker and beat, ClickHouse
over HTTP, two edge nodes; agents' traffic through the OpenTelemetry SDK and the openai
SDK; a worker and an edge SIGKILLed mid-stream and restarted; both stores checked
exactly. And two worker processes racing for one node's pull lease.

Skipped without REDIS_URL and DATABASE_URL (CI sets both).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from controlplane.agents.models import EdgeNode
from controlplane.analytics import get_store
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.telemetry.models import UsageEvent
from tests.stack.conftest import Stack, agent_headers, stack_skip_reason
from tests.stack.proxy import PullCounter
from tests.stack.traffic import Traffic

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(stack_skip_reason() is not None, reason=stack_skip_reason() or ""),
]


def wait_until(
    condition: Callable[[], bool], timeout: float, what: Callable[[], str], poll: float = 0.1
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(what())
        time.sleep(poll)


def ledger_ids(stack: Stack) -> list[tuple[str, str]]:
    """``(event_id, trace_id)`` of every ledger row of the tenant."""
    with tenant_context(stack.world.tenant):
        return [
            (str(event_id), trace_id)
            for event_id, trace_id in UsageEvent.objects.values_list("event_id", "trace_id")
        ]


def clickhouse_ids(stack: Stack) -> Counter[str]:
    rows = get_store().query(
        "SELECT toString(event_id) AS id, count() AS n FROM spans "
        "WHERE tenant_id = {tenant:UUID} GROUP BY id",
        {"tenant": stack.world.tenant.pk},
    )
    return Counter({row["id"]: int(row["n"]) for row in rows})


def rollup_requests(stack: Stack) -> int:
    """What the dashboards count: the per-minute rollup, which a duplicate insert would
    count twice even after ``spans`` merged it away."""
    rows = get_store().query(
        "SELECT sum(requests) AS n FROM spans_minute WHERE tenant_id = {tenant:UUID}",
        {"tenant": stack.world.tenant.pk},
    )
    return int(rows[0]["n"] or 0)


def drained(stack: Stack) -> bool:
    """Every edge's spool acknowledged up to its last record."""
    for index in range(len(stack.edges)):
        spool = stack.heartbeat(index)["spool"]
        if spool["acked_cursor"] < spool["last_cursor"]:
            return False
    return True


def lease_held_mid_batch(stack: Stack) -> bool:
    with all_tenants_context():
        busy = EdgeNode.unscoped.filter(pending_after__isnull=False).exclude(lease_owner="")
        return busy.exists()


class Backlog:
    """Spans exported to one edge on a thread until stopped, so pulls always find work."""

    def __init__(self, traffic: Traffic, edge_url: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(traffic, edge_url), daemon=True)
        self.error: BaseException | None = None

    def _run(self, traffic: Traffic, edge_url: str) -> None:
        try:
            while not self._stop.is_set():
                traffic.export(edge_url, 200)
        except BaseException as exc:
            self.error = exc

    def __enter__(self) -> Backlog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)
        if self.error is not None:
            raise self.error


def test_stack_survives_a_killed_worker_and_a_killed_edge_exactly_once(
    stack_base: Stack,
) -> None:
    stack = stack_base
    worker = stack.start(stack.worker("w1"), wait=False)
    beat = stack.start(stack.beat(), wait=False)
    web = stack.start(stack.web(), wait=False)
    for service in (worker, beat, web):
        service.wait_ready()
    stack.wait_for_config()  # signed bundles, provider key decrypted with the node token

    tenant = str(stack.world.tenant.pk)
    otlp = Traffic(tenant, agent_headers(stack.world))
    gateway = Traffic(tenant, agent_headers(stack.world))
    edge_1, edge_2 = stack.edge_url(0), stack.edge_url(1)

    for round_ in range(4):
        otlp.export(edge_1 if round_ % 2 else edge_2, 150)
        gateway.chat(edge_1, stream=bool(round_ % 2))
        gateway.chat(edge_2)

    # The worker, SIGKILLed (with its pool) while it holds a node's lease in mid-batch.
    with Backlog(otlp, edge_1):
        wait_until(lambda: lease_held_mid_batch(stack), 30, stack.diagnostics, poll=0.01)
        worker.kill()
    # An edge, SIGKILLed while it streams an answer to an agent, and started again a
    # moment later; meanwhile the agent's spans and the call are retried.
    edge = stack.edges[1]

    kills: list[float] = []

    def kill_edge() -> None:
        kills.append(time.monotonic())
        edge.kill()
        restarter = threading.Timer(1.5, edge.start)
        restarter.start()
        otlp.export(edge_2, 100)
        restarter.join()

    gateway.chat(edge_2, interrupt=kill_edge)
    worker.start()
    for round_ in range(3):
        otlp.export(edge_2 if round_ % 2 else edge_1, 100)
        gateway.chat(edge_1 if round_ % 2 else edge_2, stream=True)
    # The edge died mid-stream (the exporter's own retries may or may not have met it
    # down: that depends on the machine's load, not on the product).
    assert kills, "the stream ended before the edge could be killed"

    expected_spans = otlp.span_ids
    answered = {call.trace_id for call in gateway.calls}

    def complete() -> bool:
        if not drained(stack):
            return False
        rows = ledger_ids(stack)
        traces = {trace for _, trace in rows}
        ids = {event for event, _ in rows}
        in_clickhouse = len(clickhouse_ids(stack))
        return expected_spans <= ids and answered <= traces and in_clickhouse == len(rows)

    wait_until(complete, 90, stack.diagnostics)

    rows = ledger_ids(stack)
    in_ledger = Counter(event for event, _ in rows)
    assert max(in_ledger.values()) == 1
    in_clickhouse = clickhouse_ids(stack)
    assert set(in_clickhouse) == set(in_ledger), "the two stores hold different events"
    assert max(in_clickhouse.values()) == 1, "ClickHouse holds an event twice"
    assert rollup_requests(stack) == len(in_ledger)
    # Every span the SDK exported is there once; each model call has its record (a call
    # whose first attempt went unanswered may have left one more).
    per_trace = Counter(trace for _, trace in rows)
    gateway_events = {event for event, trace in rows if trace in answered}
    assert set(in_ledger) - gateway_events == expected_spans
    for call in gateway.calls:
        recorded = per_trace[call.trace_id]
        if call.first_attempt_answered:
            assert recorded == 1, call
        else:
            assert 1 <= recorded <= call.attempts, call

    # The web process sees the same stack: PostgreSQL, ClickHouse over HTTP, and beat's
    # heartbeat through the restarted worker.
    # (beat sends its first heartbeat 15 s after it starts: wait for it, not longer)
    deadline = time.monotonic() + 60
    while True:
        health = httpx.get(
            f"http://127.0.0.1:{stack.web_port}/healthz", headers={"Host": "127.0.0.1"}, timeout=10
        )
        if health.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert health.status_code == 200, health.text
    body: dict[str, Any] = health.json()
    assert body["clickhouse"]["engine"] == "http"
    with all_tenants_context():
        errors = list(EdgeNode.unscoped.exclude(last_error="").values_list("last_error", flat=True))
    assert not [e for e in errors if "pending batch" in e], errors


def test_two_workers_racing_for_one_node_never_pull_it_together(stack_base: Stack) -> None:
    stack = stack_base
    node = stack.world.nodes[0]
    proxy = PullCounter(stack.edge_url(0))
    try:
        with tenant_context(stack.world.tenant):
            EdgeNode.objects.filter(pk=node.pk).update(pull_url=proxy.url)
        workers = [stack.start(stack.worker(name), wait=False) for name in ("w1", "w2")]
        for worker in workers:
            worker.wait_ready()
        stack.send_pull(node.pk)  # the configuration first
        stack.wait_for_config(nodes=1)
        traffic = Traffic(str(stack.world.tenant.pk), agent_headers(stack.world))

        owners: set[str] = set()
        for _ in range(10):  # a backlog, and four pulls at once for it: two per worker
            traffic.export(stack.edge_url(0), 500)
            for _ in range(4):
                stack.send_pull(node.pk)
            deadline = time.monotonic() + 2
            while time.monotonic() < deadline:
                with all_tenants_context():
                    owner = EdgeNode.unscoped.values_list("lease_owner", flat=True).get(pk=node.pk)
                if owner:
                    owners.add(owner.split(":", 1)[0])
                time.sleep(0.01)
            if drained(stack) and len(owners) == 2:
                break
        wait_until(lambda: drained(stack), 60, stack.diagnostics)
    finally:
        proxy.close()

    assert proxy.most_in_flight == 1, "two pulls of one node ran at once"
    assert {owner.split("@", 1)[0] for owner in owners} == {"w1", "w2"}, owners
    rows = ledger_ids(stack)
    assert len(rows) == len({event for event, _ in rows}) == len(traffic.span_ids)
    assert set(clickhouse_ids(stack).values()) == {1}
    assert rollup_requests(stack) == len(traffic.span_ids)
