"""Gateway test helpers: bundles (plain or signed), the simulated provider and an edge
served by uvicorn in a thread (so tests can look at its state), on free ports."""

from __future__ import annotations

import asyncio
import base64
import copy
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette

from edge.app import create_app
from edge.gateway.service import Gateway
from edge.process import free_port
from edge.simprovider import RunningSim, SimProvider, serve_in_thread
from tests.edge.conftest import (
    AGENT,
    AGENT_KEY,
    DEPARTMENT,
    DEVICE,
    DEVICE_KEY,
    NODE_HEADERS,
    OTHER_AGENT,
    OTHER_AGENT_KEY,
    OTHER_DEVICE,
    OTHER_DEVICE_KEY,
    REPO,
    TENANT,
    config_doc,
    make_settings,
    pulled_records,
)

AGENT_GATEWAY_HEADERS = {"X-ACP-Device-Id": DEVICE, "X-ACP-Device-Key": DEVICE_KEY}
OPENAI_HEADERS = {"Authorization": f"Bearer {AGENT_KEY}", **AGENT_GATEWAY_HEADERS}
ANTHROPIC_HEADERS = {"x-api-key": AGENT_KEY, **AGENT_GATEWAY_HEADERS}
FINANCE_HEADERS = {
    "Authorization": f"Bearer {OTHER_AGENT_KEY}",
    "X-ACP-Device-Id": OTHER_DEVICE,
    "X-ACP-Device-Key": OTHER_DEVICE_KEY,
}

PRICES = [
    {
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_per_million": "0.15",
        "output_per_million": "0.60",
        "effective_from": "2026-01-01T00:00:00Z",
    },
    {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "input_per_million": "1.00",
        "output_per_million": "5.00",
        "effective_from": "2026-01-01T00:00:00Z",
    },
]


def agent_profile(agent_id: str = AGENT, **overrides: Any) -> dict[str, Any]:
    marketing = agent_id == AGENT
    profile = {
        "agent_id": agent_id,
        "tenant_id": TENANT,
        "department_id": DEPARTMENT if marketing else None,
        "role": "marketing" if marketing else "finance",
        "tier": "standard",
        "allowed_models": [],
        "allowed_tools": ["crm.search", "ledger.query", "web.search"],
        "data_classes": ["public", "pii"] if marketing else ["public", "finance"],
        "operating_window": None,
    }
    profile.update(overrides)
    return profile


def provider(provider_id: str, url: str, kind: str = "openai", **extra: Any) -> dict[str, Any]:
    base_url = f"{url}/v1" if kind == "openai" else url
    return {
        "provider_id": provider_id,
        "tenant_id": None,
        "kind": kind,
        "base_url": base_url,
        "api_key_enc": None,
        "models": [],
        **extra,
    }


def route(
    route_id: str = "default",
    candidates: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "route_id": route_id,
        "tenant_id": None,
        "tier": "*",
        "model": "*",
        "candidates": candidates or [{"provider_id": "sim-a", "model": "*", "weight": 1}],
        "max_attempts": 3,
        "timeout_seconds": 10,
        **extra,
    }


def gateway_doc(
    version: int = 1,
    *,
    providers: list[dict[str, Any]],
    routes: list[dict[str, Any]] | None = None,
    agents: list[dict[str, Any]] | None = None,
    policies: list[dict[str, Any]] | None = None,
    prices: list[dict[str, Any]] | None = None,
    budgets: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        **config_doc(version),
        "issued_at": "2026-11-26T18:00:00Z",
        "agents": agents if agents is not None else [agent_profile(), agent_profile(OTHER_AGENT)],
        "policies": policies
        if policies is not None
        else [
            {
                "tenant_id": TENANT,
                "injection": "block",
                "pii": "off",
                "pii_types": [],
                "tool_data_classes": {"ledger.query": ["finance"], "crm.search": ["pii"]},
            }
        ],
        "providers": providers,
        "routes": routes if routes is not None else [route()],
        "prices": prices if prices is not None else copy.deepcopy(PRICES),
        "budgets": budgets or [],
    }


# --- signing ---------------------------------------------------------------------------


@dataclass
class SigningKey:
    key_id: str
    private: Ed25519PrivateKey

    @classmethod
    def generate(cls, key_id: str = "k1") -> SigningKey:
        return cls(key_id, Ed25519PrivateKey.generate())

    @property
    def public_b64(self) -> str:
        raw = self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def public_raw(self) -> bytes:
        return self.private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    def sign(self, payload: dict[str, Any]) -> dict[str, Any]:
        data = orjson.dumps(payload)
        return {
            "format": "acp-bundle-v1",
            "key_id": self.key_id,
            "payload": base64.b64encode(data).decode(),
            "signature": base64.b64encode(self.private.sign(data)).decode(),
        }


# --- running things --------------------------------------------------------------------


@dataclass
class EdgeServer:
    """``create_app`` under uvicorn in a thread: a real HTTP server whose app state
    tests can inspect."""

    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway(self) -> Gateway:
        gateway: Gateway = self.app.state.gateway
        return gateway

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30)

    def configure(self, doc: dict[str, Any]) -> httpx.Response:
        with self.client() as client:
            return client.put("/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS)

    def records(self) -> list[dict[str, Any]]:
        with self.client() as client:
            return pulled_records(client)

    def wait_records(self, count: int, timeout: float = 20) -> list[dict[str, Any]]:
        """Captures are written after the answer; wait until ``count`` are stored."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if len(records) >= count or time.monotonic() > deadline:
                return records
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(20)


def start_edge(data_dir: Path, **settings: Any) -> EdgeServer:
    app = create_app(make_settings(data_dir, port=0, **settings))
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="edge", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the edge did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    return EdgeServer(app, server, thread, port)


@pytest.fixture
def sims() -> Iterator[Callable[..., RunningSim]]:
    started: list[RunningSim] = []

    def start(**options: Any) -> RunningSim:
        running = serve_in_thread(SimProvider(**options))
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()


@pytest.fixture
def edges(tmp_path: Path) -> Iterator[Callable[..., EdgeServer]]:
    started: list[EdgeServer] = []

    def start(data_dir: Path | None = None, **settings: Any) -> EdgeServer:
        edge = start_edge(data_dir or tmp_path / "edge", **settings)
        started.append(edge)
        return edge

    yield start
    for edge in started:
        edge.stop()


@pytest.fixture
def sim(sims: Callable[..., RunningSim]) -> RunningSim:
    return sims(seed=1)


def sim_doc(sim: RunningSim, **extra: Any) -> dict[str, Any]:
    """The ``edge`` fixture's bundle: the default route goes to ``sim`` (OpenAI API as
    ``sim-a``, Anthropic API as ``sim-anthropic``); ``extra`` as for ``gateway_doc``."""
    return gateway_doc(
        providers=[
            provider("sim-a", sim.url),
            provider("sim-anthropic", sim.url, kind="anthropic"),
        ],
        routes=[
            route(
                "claude",
                [{"provider_id": "sim-anthropic", "model": "claude-haiku-4-5", "weight": 1}],
                model="claude-haiku-4-5",
            ),
            route(
                "tiers",
                [{"provider_id": "sim-a", "model": "gpt-4o-mini", "weight": 1}],
                tier="simple",
            ),
            route(),
        ],
        **extra,
    )


@pytest.fixture
def edge(edges: Callable[..., EdgeServer], sim: RunningSim) -> EdgeServer:
    """A configured edge with ``sim_doc``'s bundle."""
    server = edges()
    response = server.configure(sim_doc(sim))
    assert response.status_code == 200, response.text
    return server


class SimProcess:
    """``python -m edge.simprovider`` in its own process (its own core under load)."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "edge.simprovider", "--port", str(self.port), *args],
            cwd=REPO,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{self.url}/_sim/stats", timeout=1)
                return
            except httpx.TransportError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("the simulated provider did not start") from None
                time.sleep(0.05)

    def stats(self) -> dict[str, int]:
        stats: dict[str, int] = httpx.get(f"{self.url}/_sim/stats", timeout=5).json()
        return stats

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


@pytest.fixture
def sim_processes() -> Iterator[Callable[..., SimProcess]]:
    started: list[SimProcess] = []

    def start(*args: str) -> SimProcess:
        process = SimProcess(*args)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


@asynccontextmanager
async def in_process_edge(data_dir: Path, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The edge app in this event loop (lifespan run by hand), reached through
    ``httpx.ASGITransport``: no sockets between the client and the edge."""
    app = create_app(make_settings(data_dir, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://edge", timeout=60
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


async def apull_all(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    after = 0
    while True:
        response = await client.get(
            "/v1/pull", params={"after": after, "limit": 10000}, headers=NODE_HEADERS
        )
        assert response.status_code == 200, response.text
        if int(response.headers["X-ACP-Count"]) == 0:
            return records
        records.extend(orjson.loads(line) for line in response.content.splitlines())
        after = int(response.headers["X-ACP-Next-Cursor"])


async def await_spooled(client: httpx.AsyncClient, count: int, timeout: float = 30) -> int:
    """Wait until the spool holds ``count`` records (captures are written after the
    answer); the number it holds then."""
    deadline = time.monotonic() + timeout
    while True:
        response = await client.get("/v1/heartbeat", headers=NODE_HEADERS)
        records: int = response.json()["spool"]["records"]
        if records >= count or time.monotonic() > deadline:
            return records
        await asyncio.sleep(0.02)
