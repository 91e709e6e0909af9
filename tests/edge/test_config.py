"""PUT /v1/config: validated, applied atomically, kept across restarts."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from edge.app import create_app
from edge.config import ConfigError

from .conftest import (
    AGENT_HEADERS,
    NODE_HEADERS,
    PROTOBUF,
    config_doc,
    make_settings,
    make_span,
    protobuf_body,
    running_edge,
    spool_stats,
)


def put(client: TestClient, doc: Any) -> Any:
    content = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return client.put("/v1/config", content=content, headers=NODE_HEADERS)


def agent_status(client: TestClient) -> int:
    body = protobuf_body([make_span(1)])
    status: int = client.post(
        "/v1/traces", content=body, headers={**AGENT_HEADERS, **PROTOBUF}
    ).status_code
    return status


def config_version(client: TestClient) -> int | None:
    version: int | None = client.get("/v1/heartbeat", headers=NODE_HEADERS).json()["config_version"]
    return version


def test_a_config_is_applied_and_kept_on_disk(tmp_path: Path) -> None:
    with running_edge(tmp_path / "edge", configure=False) as edge:
        assert agent_status(edge) == 401
        response = put(edge, config_doc(version=3))
        assert (response.status_code, response.json()) == (200, {"version": 3})
        assert agent_status(edge) == 200

    assert orjson.loads((tmp_path / "edge" / "config.json").read_bytes()) == config_doc(3)
    assert [p.name for p in (tmp_path / "edge").iterdir() if p.name.endswith(".tmp")] == []

    # The control plane is unreachable: nothing pushes a config after the restart.
    with running_edge(tmp_path / "edge", configure=False) as edge:
        assert config_version(edge) == 3
        assert agent_status(edge) == 200


def test_an_older_version_is_refused_and_changes_nothing(edge: TestClient) -> None:
    assert put(edge, config_doc(version=5, revoke_agent_key=True)).status_code == 200
    response = put(edge, config_doc(version=4))
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert config_version(edge) == 5
    assert agent_status(edge) == 401, "version 5 revoked the key and is still in force"


def test_the_same_version_can_be_pushed_again(edge: TestClient) -> None:
    assert put(edge, config_doc(version=1)).status_code == 200
    assert put(edge, config_doc(version=1)).status_code == 200


def test_revoking_a_key_takes_effect_immediately(edge: TestClient) -> None:
    assert agent_status(edge) == 200
    assert put(edge, config_doc(version=2, revoke_agent_key=True)).status_code == 200
    assert agent_status(edge) == 401
    assert spool_stats(edge)["records"] == 1


def _broken(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(config_doc(version=9))
    keys: list[Any] = [int(part) if part.isdigit() else part for part in path.split(".")]
    target: Any = doc
    for key in keys[:-1]:
        target = target[key]
    if value is KeyError:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return doc


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (b"{not json", "JSON"),
        (b"[]", "object"),
        (_broken("version", KeyError), "version"),
        (_broken("version", "9"), "version"),
        (_broken("version", -1), "version"),
        (_broken("node_id", "node-1"), "node_id"),
        (_broken("site_id", KeyError), "site_id"),
        (_broken("devices", {}), "devices"),
        (_broken("devices.1", "x"), "devices[1]"),
        (_broken("devices.0.key_sha256", "abc"), "devices[0].key_sha256"),
        (_broken("devices.0.revoked", "no"), "devices[0].revoked"),
        (_broken("devices.1.device_id", "0e1f2a3b-4444-4c5d-8e6f-708192a30001"), "devices[1]"),
        (_broken("agent_keys.0.key_id", ""), "agent_keys[0].key_id"),
        (_broken("agent_keys.2.agent_id", None), "agent_keys[2].agent_id"),
        (_broken("agent_keys.0.department_id", "sales"), "agent_keys[0].department_id"),
        (
            _broken("agent_keys.1.device_id", "0e1f2a3b-4444-4c5d-8e6f-7081920000ff"),
            "agent_keys[1]",
        ),
        (
            _broken("agent_keys.1.tenant_id", "7d3e5a0c-1111-4c6b-9a53-0d5f1d8e0002"),
            "agent_keys[1]",
        ),
        (
            _broken("agent_keys.1.key_sha256", config_doc()["agent_keys"][0]["key_sha256"]),
            "agent_keys[1]",
        ),
    ],
)
def test_an_invalid_document_is_refused_naming_the_field(
    edge: TestClient, doc: Any, field: str
) -> None:
    response = put(edge, doc)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert config_version(edge) == 1
    assert agent_status(edge) == 200


def test_a_corrupt_config_on_disk_stops_the_edge(tmp_path: Path) -> None:
    data_dir = tmp_path / "edge"
    data_dir.mkdir()
    (data_dir / "config.json").write_text('{"version": 1}')
    with (
        pytest.raises(ConfigError, match="devices is required"),
        TestClient(create_app(make_settings(data_dir))),
    ):
        pass
