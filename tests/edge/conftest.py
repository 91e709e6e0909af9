"""Edge test helpers: a configured edge in-process (Starlette TestClient) or as a real
``python -m edge`` process, credentials, and OTLP request builders. No Django."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers the httpx2 fork; the project pins httpx, which still works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from edge.app import create_app
from edge.process import EdgeProcess as BaseEdgeProcess
from edge.settings import Settings

REPO = Path(__file__).resolve().parents[2]

NODE_TOKEN = "acpn_node-token-for-tests"
TENANT = "7d3e5a0c-1111-4c6b-9a53-0d5f1d8e0001"
OTHER_TENANT = "7d3e5a0c-1111-4c6b-9a53-0d5f1d8e0002"
AGENT = "a9c0f6f2-2222-4f7e-8d3c-1b2a3c4d0001"
OTHER_AGENT = "a9c0f6f2-2222-4f7e-8d3c-1b2a3c4d0002"
DEPARTMENT = "d1e2f3a4-3333-4b5c-9d6e-7f8091a20001"
DEVICE = "0e1f2a3b-4444-4c5d-8e6f-708192a30001"
OTHER_DEVICE = "0e1f2a3b-4444-4c5d-8e6f-708192a30002"
REVOKED_DEVICE = "0e1f2a3b-4444-4c5d-8e6f-708192a30003"
NODE = "5a6b7c8d-5555-4e9f-a0b1-c2d3e4f50001"
SITE = "5a6b7c8d-6666-4e9f-a0b1-c2d3e4f50002"

AGENT_KEY = "acpk_k1_Zm9vYmFyYmF6cXV4"
OTHER_AGENT_KEY = "acpk_k2_cXV1eGNvcmdlZ3JhdWx0"
REVOKED_AGENT_KEY = "acpk_k3_cmV2b2tlZGtleXNlY3JldA"
ON_REVOKED_DEVICE_KEY = "acpk_k4_b25yZXZva2VkZGV2aWNl"
DEVICE_KEY = "acpd_ZGV2aWNlLXNlY3JldC0x"
OTHER_DEVICE_KEY = "acpd_ZGV2aWNlLXNlY3JldC0y"
REVOKED_DEVICE_KEY = "acpd_ZGV2aWNlLXNlY3JldC0z"

AGENT_HEADERS = {
    "Authorization": f"Bearer {AGENT_KEY}",
    "X-ACP-Device-Id": DEVICE,
    "X-ACP-Device-Key": DEVICE_KEY,
}
NODE_HEADERS = {"Authorization": f"Bearer {NODE_TOKEN}"}
PROTOBUF = {"Content-Type": "application/x-protobuf"}
JSON = {"Content-Type": "application/json"}


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def config_doc(version: int = 1, *, revoke_agent_key: bool = False) -> dict[str, Any]:
    def device(device_id: str, key: str, revoked: bool = False) -> dict[str, Any]:
        return {
            "device_id": device_id,
            "tenant_id": TENANT,
            "key_sha256": sha256(key),
            "revoked": revoked,
        }

    def agent_key(
        key_id: str, key: str, agent: str, device_id: str, revoked: bool = False
    ) -> dict[str, Any]:
        return {
            "key_id": key_id,
            "key_sha256": sha256(key),
            "agent_id": agent,
            "tenant_id": TENANT,
            "department_id": DEPARTMENT if agent == AGENT else None,
            "device_id": device_id,
            "revoked": revoked,
        }

    return {
        "version": version,
        "node_id": NODE,
        "site_id": SITE,
        "devices": [
            device(DEVICE, DEVICE_KEY),
            device(OTHER_DEVICE, OTHER_DEVICE_KEY),
            device(REVOKED_DEVICE, REVOKED_DEVICE_KEY, revoked=True),
        ],
        "agent_keys": [
            agent_key("k1", AGENT_KEY, AGENT, DEVICE, revoked=revoke_agent_key),
            agent_key("k2", OTHER_AGENT_KEY, OTHER_AGENT, OTHER_DEVICE),
            agent_key("k3", REVOKED_AGENT_KEY, AGENT, DEVICE, revoked=True),
            agent_key("k4", ON_REVOKED_DEVICE_KEY, AGENT, REVOKED_DEVICE),
        ],
    }


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 4318,
        "data_dir": data_dir,
        "node_token_sha256": sha256(NODE_TOKEN),
        "max_spool_bytes": 1 << 30,
        "max_body_bytes": 4 << 20,
    }
    values.update(overrides)
    return Settings(**values)


@contextmanager
def running_edge(
    data_dir: Path, *, configure: bool = True, **settings: Any
) -> Iterator[TestClient]:
    """An edge on ``data_dir`` for the duration of the block; leaving it shuts the edge
    down as a restart would."""
    with TestClient(create_app(make_settings(data_dir, **settings))) as client:
        if configure:
            response = client.put("/v1/config", json=config_doc(), headers=NODE_HEADERS)
            assert response.status_code == 200, response.text
        yield client


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[TestClient]:
    with running_edge(tmp_path / "edge") as client:
        yield client


# --- OTLP builders -------------------------------------------------------------------


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(item) for item in value]))
    return AnyValue(string_value=value)


def key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


def make_span(
    number: int,
    attributes: Mapping[str, Any] | None = None,
    *,
    name: str = "step",
    trace: int = 1,
    parent: int = 0,
    status: Status | None = None,
    events: list[Span.Event] | None = None,
) -> Span:
    return Span(
        trace_id=trace.to_bytes(16, "big"),
        span_id=number.to_bytes(8, "big"),
        parent_span_id=parent.to_bytes(8, "big") if parent else b"",
        name=name,
        kind=Span.SPAN_KIND_CLIENT,
        start_time_unix_nano=1_764_000_000_000_000_000 + number,
        end_time_unix_nano=1_764_000_000_500_000_000 + number,
        attributes=key_values(attributes or {}),
        status=status,
        events=events or [],
    )


def export_request(
    spans: list[Span], resource: Mapping[str, Any] | None = None
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans: ResourceSpans = request.resource_spans.add()
    resource_spans.resource.attributes.extend(
        key_values(resource if resource is not None else {"service.name": "support-bot"})
    )
    scope_spans: ScopeSpans = resource_spans.scope_spans.add()
    scope_spans.spans.extend(spans)
    return request


def protobuf_body(spans: list[Span]) -> bytes:
    return export_request(spans).SerializeToString()


# --- reading an edge back ------------------------------------------------------------


def pull(client: TestClient | httpx.Client, after: int = 0, limit: int = 10000) -> httpx.Response:
    response = client.get("/v1/pull", params={"after": after, "limit": limit}, headers=NODE_HEADERS)
    assert response.status_code == 200, response.text
    return response


def pulled_records(client: TestClient | httpx.Client, after: int = 0) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    while True:
        response = pull(client, after)
        if int(response.headers["X-ACP-Count"]) == 0:
            return records
        records.extend(orjson.loads(line) for line in response.content.splitlines())
        after = int(response.headers["X-ACP-Next-Cursor"])


def spool_stats(client: TestClient | httpx.Client) -> dict[str, Any]:
    response = client.get("/v1/heartbeat", headers=NODE_HEADERS)
    assert response.status_code == 200, response.text
    stats: dict[str, Any] = response.json()["spool"]
    return stats


# --- a real edge process -------------------------------------------------------------


class EdgeProcess(BaseEdgeProcess):
    """``python -m edge`` as the site would run it, on a free port; with the tests' node
    token unless ``EDGE_NODE_TOKEN_SHA256`` is given."""

    def __init__(self, data_dir: Path, *, port: int | None = None, **env: str) -> None:
        super().__init__(
            data_dir, port=port, **{"EDGE_NODE_TOKEN_SHA256": sha256(NODE_TOKEN), **env}
        )


@pytest.fixture
def edge_process(tmp_path: Path) -> Iterator[Callable[..., EdgeProcess]]:
    """Starts real edge processes (on ``tmp_path / "edge"`` by default); all are stopped
    at the end of the test."""
    started: list[EdgeProcess] = []

    def start(data_dir: Path | None = None, **env: str) -> EdgeProcess:
        process = EdgeProcess(data_dir or tmp_path / "edge", **env)
        started.append(process)
        return process.start()

    yield start
    for process in started:
        process.stop()
