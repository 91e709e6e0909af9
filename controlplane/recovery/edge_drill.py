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
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from controlplane.recovery.postgres import RecoveryError
from edge.process import EdgeProcess, EdgeStartError


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _request(
    edge: EdgeProcess, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
) -> httpx.Response:
    response = httpx.request(method, edge.url + path, headers=headers, timeout=10, **kwargs)
    if response.status_code >= 400:
        raise RecoveryError(f"the drill's edge answered {method} {path}: {response.text}")
    return response


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
    token = f"acpn_{secrets.token_urlsafe(32)}"
    node = {"Authorization": f"Bearer {token}"}
    edge = EdgeProcess(work_dir / "edge", EDGE_NODE_TOKEN=token)
    try:
        edge.start()
        _request(edge, "PUT", "/v1/config", headers=node, json=_config(agent_key, device_key, ids))
        body, sent = _spans(spans)
        agent = {
            "Authorization": f"Bearer {agent_key}",
            "X-ACP-Device-Id": ids["device"],
            "X-ACP-Device-Key": device_key,
            "Content-Type": "application/x-protobuf",
        }
        _request(edge, "POST", "/v1/traces", headers=agent, content=body)
        edge.kill()
        edge.start()
        pulled = _request(
            edge, "GET", "/v1/pull", headers=node, params={"after": 0, "limit": spans * 2}
        )
    except EdgeStartError as exc:
        raise RecoveryError(f"the drill's edge: {exc}") from exc
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
