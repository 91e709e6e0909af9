"""Crash, restart and failure tests with real processes: nothing lost, nothing twice.

The pull worker runs as a separate process (``manage.py pull_edge_nodes``) against the
test database, and reaches ClickHouse over HTTP (clickhouse-connect) through the test
endpoint backed by chDB, so it can be killed at any instruction without touching the
test process's own stores.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from django.db import connection

from controlplane.analytics.chdb_server import ClickHouseError, ClickHouseHttpServer, Reply
from controlplane.analytics.http_store import HttpStore
from controlplane.core.tenancy import tenant_context
from controlplane.db.embedded import ensure_embedded_postgres
from controlplane.telemetry.models import UsageEvent
from controlplane.telemetry.pull import pull_edge_node
from controlplane.telemetry.simulator import SimulatedAgent, TraceFactory, system_prompt_for
from tests.telemetry.conftest import Site

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


class FlakyClickHouse(ClickHouseHttpServer):
    """The test endpoint, with a switch that makes every INSERT fail."""

    fail_inserts = False

    def execute(self, arguments: dict[str, str], body: bytes) -> Reply:
        query = arguments.get("query", "") + body[:200].decode("latin-1")
        if self.fail_inserts and "INSERT" in query.upper():
            raise ClickHouseError(999, "injected failure: insert refused", status=500)
        return super().execute(arguments, body)


@pytest.fixture
def clickhouse() -> Iterator[FlakyClickHouse]:
    # chDB opens one data directory per process: serve the test process's own.
    server = FlakyClickHouse(settings.CHDB_PATH).start()
    try:
        yield server
    finally:
        server.stop()


def _database_url() -> str:
    """The test database, for a worker process."""
    params = connection.settings_dict
    options = params.get("OPTIONS", {})
    if options.get("embedded_pgdata"):
        host = ensure_embedded_postgres(
            options["embedded_pgdata"], role=params["USER"], database=None
        )
        return f"postgres://{params['USER']}@{quote(host, safe='')}/{params['NAME']}"
    password = f":{params['PASSWORD']}" if params.get("PASSWORD") else ""
    return (
        f"postgres://{params['USER']}{password}@{params['HOST']}:{params['PORT'] or 5432}/"
        f"{params['NAME']}"
    )


def _worker(site: Site, clickhouse: ClickHouseHttpServer, *, loop: bool) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "controlplane.settings_test",
        "DATABASE_URL": _database_url(),
        "CLICKHOUSE_URL": clickhouse.dsn,
        "CLICKHOUSE_DATABASE": "controlplane",
        "EDGE_PULL_BATCH_SIZE": "150",
        "EDGE_PULL_LEASE_SECONDS": "5",
        "EDGE_PULL_TIME_BUDGET_SECONDS": "2",
    }
    args = [
        sys.executable,
        "manage.py",
        "pull_edge_nodes",
        "--node",
        str(site.node.pk),
        "--worker-id",
        "fault-test",
        "--interval",
        "0.05",
    ]
    return subprocess.Popen(
        [*args, *(["--loop"] if loop else [])],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _agent(site: Site, name: str) -> SimulatedAgent:
    env = site.issue_key(name)
    device = dict(pair.split("=", 1) for pair in env["AGENT_DEVICE_HEADERS"].split(","))
    headers = {"Authorization": f"Bearer {env['OPENAI_API_KEY']}", **device}
    return SimulatedAgent(
        name=name,
        role="support",
        headers=headers,
        endpoint=site.edge.url,
        system_prompt=system_prompt_for(name, "support"),
    )


class Sender:
    """An agent exporting traces, retrying like an OTLP exporter until it gets a 200."""

    def __init__(self, agent: SimulatedAgent) -> None:
        self.agent = agent
        self.factory = TraceFactory(random.Random(7), error_rate=0.05, timeout_rate=0.02)
        self.spans = 0
        self.input_tokens = 0

    def send(self, traces: int) -> None:
        request = self.factory.request(self.agent, traces)
        body = request.SerializeToString()
        for _ in range(200):
            try:
                response = httpx.post(
                    f"{self.agent.endpoint}/v1/traces",
                    content=body,
                    timeout=5,
                    headers={**self.agent.headers, "Content-Type": "application/x-protobuf"},
                )
                if response.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        else:
            raise AssertionError("the edge never accepted the export")
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                for span in scope.spans:
                    self.spans += 1
                    self.input_tokens += next(
                        (
                            a.value.int_value
                            for a in span.attributes
                            if a.key == "gen_ai.usage.input_tokens"
                        ),
                        0,
                    )


def _drain(site: Site, clickhouse: ClickHouseHttpServer) -> None:
    for _ in range(50):
        worker = _worker(site, clickhouse, loop=False)
        assert worker.wait(timeout=120) == 0
        with httpx.Client(base_url=site.edge.url) as client:
            spool = client.get("/v1/heartbeat", headers=site.node_headers()).json()["spool"]
        if spool["records"] == 0:
            return
    raise AssertionError("the spool did not drain")


def _assert_exactly_once(site: Site, clickhouse: ClickHouseHttpServer, sender: Sender) -> None:
    with tenant_context(site.tenant):
        ledger = UsageEvent.objects.all()
        assert ledger.count() == sender.spans
        assert sum(ledger.values_list("input_tokens", flat=True)) == sender.input_tokens
    store = HttpStore(clickhouse.dsn, database="controlplane")
    try:
        # Plain count(): a duplicate row would show even before any merge.
        [row] = store.query(
            "SELECT count() AS n, sum(input_tokens) AS tokens, uniqExact(event_id) AS ids "
            "FROM spans WHERE tenant_id = {tenant:UUID}",
            {"tenant": site.tenant.pk},
        )
        [rollup] = store.query(
            "SELECT sum(requests) AS n FROM spans_minute WHERE tenant_id = {tenant:UUID}",
            {"tenant": site.tenant.pk},
        )
    finally:
        store.close()
    assert (row["n"], row["ids"], row["tokens"]) == (sender.spans,) * 2 + (sender.input_tokens,)
    assert rollup["n"] == sender.spans


def test_killing_the_worker_mid_batch_loses_and_duplicates_nothing(
    site: Site, clickhouse: FlakyClickHouse
) -> None:
    sender = Sender(_agent(site, "support-bot"))
    pull_edge_node(site.node.pk, worker="setup")  # the edge learns the agent's key
    for _ in range(40):
        sender.send(traces=10)
    rng = random.Random(11)
    for _ in range(12):
        worker = _worker(site, clickhouse, loop=True)
        time.sleep(rng.uniform(0.4, 1.5))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        sender.send(traces=5)
    _drain(site, clickhouse)
    _assert_exactly_once(site, clickhouse, sender)


def test_edge_restarts_and_failed_clickhouse_inserts_lose_nothing(
    site: Site, clickhouse: FlakyClickHouse
) -> None:
    sender = Sender(_agent(site, "support-bot"))
    pull_edge_node(site.node.pk, worker="setup")
    worker = _worker(site, clickhouse, loop=True)
    try:
        for round_number in range(6):
            for _ in range(10):
                sender.send(traces=4)
            if round_number % 2 == 0:
                site.edge.kill()  # SIGKILL mid-stream; the sender retries until it is back
                site.edge.start()
            else:
                clickhouse.fail_inserts = True
                time.sleep(1.5)  # batches reach the ledger, their ClickHouse insert fails
                clickhouse.fail_inserts = False
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    _drain(site, clickhouse)
    _assert_exactly_once(site, clickhouse, sender)
