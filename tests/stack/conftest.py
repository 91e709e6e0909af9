"""The server stack as separate processes around a committed test database.

The tenant, its site with two edge nodes, agents, providers and prices are made by this
process (tests.gateway.conftest.make_world) and committed, so the stack's processes see
them. The MSP provider points at the simulated provider, which runs in this process.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Celery
from django.conf import settings as django_settings
from django.db import connection

from billing.services import model_price_create
from controlplane.agents.models import EdgeNode
from controlplane.analytics import get_store, reset_store
from controlplane.analytics.migrations_runner import migrate
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.services import credential_rotate, provider_update, role_default_set
from controlplane.gateway.signing import bundle_public_keys
from edge.simprovider import RunningSim, SimProvider, serve_in_thread
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.gateway.conftest import World, committed_db, make_world
from tests.stack import processes
from tests.stack.processes import Service

__all__ = ["committed_db"]

SIM_KEY = "sim-provider-key-for-the-stack-0042"
CLICKHOUSE_PASSWORD = "stack clickhouse p@ss"


def stack_skip_reason() -> str | None:
    if not os.environ.get("REDIS_URL"):
        return "the server stack needs Redis: set REDIS_URL (CI does)"
    if not os.environ.get("DATABASE_URL"):
        return "the server stack needs a PostgreSQL server: set DATABASE_URL (CI does)"
    return None


@dataclass
class Stack:
    world: World
    sim: RunningSim
    tmp: Path
    app_env: dict[str, str]
    clickhouse: Service
    edges: list[Service]
    web_port: int
    services: list[Service] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.tmp / "logs"

    def edge_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.edges[index].env['EDGE_PORT']}"

    def node_token(self, index: int) -> str:
        return self.world.tokens[str(self.world.nodes[index].pk)]

    def heartbeat(self, index: int) -> dict[str, Any]:
        response = httpx.get(
            f"{self.edge_url(index)}/v1/heartbeat",
            headers={"Authorization": f"Bearer {self.node_token(index)}"},
            timeout=5,
        )
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def start(self, service: Service, *, wait: bool = True) -> Service:
        if service not in self.services:
            self.services.append(service)
        return service.start(wait=wait)

    def worker(self, name: str, **options: Any) -> Service:
        return processes.worker(name, env=self.app_env, log_dir=self.logs, **options)

    def beat(self) -> Service:
        return processes.beat(env=self.app_env, log_dir=self.logs, var_dir=self.tmp / "var")

    def web(self) -> Service:
        return processes.web(env=self.app_env, port=self.web_port, log_dir=self.logs)

    def send_pull(self, node_id: uuid.UUID) -> None:
        """Enqueue a pull on the stack's broker (this process's tasks run eagerly)."""
        # Not the current app: shared tasks of later tests in this process must stay eager.
        broker = Celery(broker=self.app_env["REDIS_URL"], set_as_current=False)
        try:
            broker.send_task("telemetry.pull_edge_node", args=[str(node_id)], queue="telemetry")
        finally:
            broker.close()

    def wait_for_config(self, timeout: float = 60, nodes: int | None = None) -> None:
        """Until the edges (the first ``nodes``) run the site's current signed bundle,
        pushed by a worker."""
        version = self.world.refresh_site().config_version
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(
                (self.heartbeat(i).get("config_version") or 0) >= version
                for i in range(nodes or len(self.edges))
            ):
                return
            time.sleep(0.2)
        raise AssertionError(f"edges did not get config {version}: {self.diagnostics()}")

    def diagnostics(self) -> str:
        with all_tenants_context():
            nodes = list(
                EdgeNode.unscoped.values("name", "cursor", "last_error", "consecutive_failures")
            )
        logs = "\n".join(f"--- {s.name}\n{s.tail(15)}" for s in self.services)
        return f"nodes: {nodes}\n{logs}"

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()


def _world(tenant_a: Tenant, tenant_b: Tenant, sim: RunningSim) -> World:
    world = make_world(tenant_a, tenant_b, nodes=2)
    provider_update(actor=SYSTEM, provider=world.msp_provider, base_url=f"{sim.url}/v1")
    credential_rotate(actor=SYSTEM, provider=world.msp_provider, secret=SIM_KEY)
    role_default_set(actor=SYSTEM, tenant=world.tenant, role="marketing", operating_window={})
    model_price_create(
        actor=SYSTEM,
        provider="openai",
        model="gpt-4o-mini",
        input_per_million=Decimal("0.15"),
        output_per_million=Decimal("0.60"),
        effective_from=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
    )
    return world


@pytest.fixture
def stack_base(
    committed_db: None,
    tenant_a: Tenant,
    tenant_b: Tenant,
    tmp_path: Path,
    settings: Any,
) -> Iterator[Stack]:
    """ClickHouse, the simulated provider and two edge nodes; web, worker and beat are
    started by the test (``stack.start(stack.worker("w1"))``). Tests using it skip with
    ``stack_skip_reason()``."""
    logs = tmp_path / "logs"
    sim = serve_in_thread(SimProvider(seed=7, api_key=SIM_KEY))
    world = _world(tenant_a, tenant_b, sim)
    clickhouse_port = processes.free_port()
    clickhouse = processes.clickhouse_server(
        path=tmp_path / "chdb", port=clickhouse_port, password=CLICKHOUSE_PASSWORD, log_dir=logs
    )
    edges: list[Service] = []
    stack: Stack | None = None
    try:
        clickhouse.start(wait=False)
        for index, node in enumerate(world.nodes):
            port = processes.free_port()
            edges.append(
                processes.edge(
                    f"edge-{index + 1}",
                    data_dir=tmp_path / f"edge-{index + 1}",
                    port=port,
                    node_token=world.tokens[str(node.pk)],
                    bundle_public_keys=bundle_public_keys(),
                    log_dir=logs,
                ).start(wait=False)
            )
            with tenant_context(world.tenant):
                url = f"http://127.0.0.1:{port}"
                EdgeNode.objects.filter(pk=node.pk).update(pull_url=url, agent_url=url)
        clickhouse_url = f"http://default:{CLICKHOUSE_PASSWORD}@127.0.0.1:{clickhouse_port}/"
        redis_url = processes.stack_redis_url(os.environ["REDIS_URL"])
        redis.Redis.from_url(redis_url).flushdb()  # no task left from an earlier run
        app_env = processes.app_env(
            var_dir=tmp_path / "var",
            database_url=processes.database_url(connection.settings_dict),
            redis_url=redis_url,
            clickhouse_url=clickhouse_url,
            field_encryption_keys=django_settings.FIELD_ENCRYPTION_KEYS,
            bundle_signing_keys=django_settings.BUNDLE_SIGNING_KEYS,
            EDGE_PULL_INTERVAL_SECONDS="1",
            EDGE_PULL_LEASE_SECONDS="5",
            EDGE_PULL_BATCH_SIZE="200",
        )
        stack = Stack(
            world=world,
            sim=sim,
            tmp=tmp_path,
            app_env=app_env,
            clickhouse=clickhouse,
            edges=edges,
            web_port=processes.free_port(),
            services=[clickhouse, *edges],
        )
        for service in (clickhouse, *edges):
            service.wait_ready()
        # This process reads the stack's ClickHouse too (for the checks), and makes its
        # schema as `manage.py migrate_clickhouse` would.
        settings.CLICKHOUSE_URL = clickhouse_url
        reset_store()
        migrate(get_store())
        yield stack
    finally:
        if stack is not None:
            stack.stop()
        else:
            for service in (clickhouse, *edges):
                service.stop()
        sim.stop()
        reset_store()


def agent_headers(world: World) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {world.agent_keys[0]}",
        "x-acp-device-id": str(world.marketing.device_id),
        "x-acp-device-key": world.device_keys[0],
    }


def new_trace_id() -> str:
    return secrets.token_hex(16)
