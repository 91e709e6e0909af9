"""The drill's edge step: what an edge accepted survives a SIGKILL and a restart.

A scratch ``python -m edge`` on a temporary data directory and a free loopback port,
with a drill-only node token and a plain configuration naming one drill agent, so it
shares nothing with any real site. It is sent OTLP spans, killed with SIGKILL (no
shutdown), started again on the same directory, and must then hand every accepted span
to the pull API, with nothing more.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from controlplane.recovery.postgres import RecoveryError

_REPO = Path(__file__).resolve().parents[2]


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Edge:
    def __init__(self, data_dir: Path, token: str) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = token
        self.log = data_dir.parent / "edge-drill.log"
        self.env = {
            **os.environ,
            "EDGE_HOST": "127.0.0.1",
            "EDGE_PORT": str(self.port),
            "EDGE_DATA_DIR": str(data_dir),
            "EDGE_NODE_TOKEN": token,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge"],
                cwd=_REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RecoveryError(f"the drill's edge exited: {self.log.read_text()[-500:]}")
            try:
                self.request("GET", "/v1/heartbeat")
                return
            except httpx.TransportError:
                time.sleep(0.05)
        raise RecoveryError("the drill's edge did not start in 30 s")

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = kwargs.pop("headers", {"Authorization": f"Bearer {self.token}"})
        response = httpx.request(method, self.url + path, headers=headers, timeout=10, **kwargs)
        if response.status_code >= 400:
            raise RecoveryError(f"the drill's edge answered {method} {path}: {response.text}")
        return response

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _config(agent_key: str, device_key: str, ids: dict[str, str]) -> dict[str, Any]:
    return {
        "version": 1,
        "node_id": ids["node"],
        "site_id": ids["site"],
        "devices": [
            {
                "device_id": ids["device"],
                "tenant_id": ids["tenant"],
                "key_sha256": _sha256(device_key),
                "revoked": False,
            }
        ],
        "agent_keys": [
            {
                "key_id": "drill",
                "key_sha256": _sha256(agent_key),
                "agent_id": ids["agent"],
                "tenant_id": ids["tenant"],
                "department_id": None,
                "device_id": ids["device"],
                "revoked": False,
            }
        ],
    }


def _spans(count: int) -> tuple[bytes, set[str]]:
    now = time.time_ns()
    spans = [
        Span(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="recovery drill",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 1_000_000,
        )
        for _ in range(count)
    ]
    request = ExportTraceServiceRequest(
        resource_spans=[ResourceSpans(scope_spans=[ScopeSpans(spans=spans)])]
    )
    return request.SerializeToString(), {span.span_id.hex() for span in spans}


def spool_survives_restart(work_dir: Path, *, spans: int = 500) -> dict[str, Any]:
    """Send ``spans`` spans, SIGKILL the edge, restart it, pull: every one, once."""
    ids = {name: str(uuid.uuid4()) for name in ("node", "site", "device", "tenant", "agent")}
    agent_key = f"acpk_drill_{secrets.token_urlsafe(16)}"
    device_key = f"acpd_{secrets.token_urlsafe(16)}"
    edge = _Edge(work_dir / "edge", token=f"acpn_{secrets.token_urlsafe(32)}")
    try:
        edge.start()
        edge.request("PUT", "/v1/config", json=_config(agent_key, device_key, ids))
        body, sent = _spans(spans)
        edge.request(
            "POST",
            "/v1/traces",
            content=body,
            headers={
                "Authorization": f"Bearer {agent_key}",
                "X-ACP-Device-Id": ids["device"],
                "X-ACP-Device-Key": device_key,
                "Content-Type": "application/x-protobuf",
            },
        )
        edge.kill()
        edge.start()
        pulled = edge.request("GET", "/v1/pull", params={"after": 0, "limit": spans * 2})
    finally:
        edge.stop()
    lines = [line for line in pulled.content.split(b"\n") if line]
    returned = [orjson.loads(line)["span_id"] for line in lines]
    if len(returned) != len(set(returned)) or set(returned) != sent:
        raise RecoveryError(
            f"the spool lost or repeated spans across the restart: sent {len(sent)}, "
            f"pulled {len(returned)} ({len(set(returned) & sent)} of those sent)"
        )
    return {"spans": len(sent), "pulled_after_restart": len(returned)}
