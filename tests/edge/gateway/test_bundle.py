"""Signed bundles: verified with the edge's public keys, refused when tampered with or
unsigned, kept on disk as the last good one; provider secrets opened with the node
token."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import openai
import orjson
import pytest
from starlette.testclient import TestClient

from edge.bundle import BundleError, provider_key, verify_envelope
from edge.settings import SettingsError, load_settings
from edge.simprovider import RunningSim
from tests.edge.conftest import (
    AGENT_KEY,
    NODE_HEADERS,
    NODE_TOKEN,
    EdgeProcess,
    config_doc,
    running_edge,
    sha256,
)

from .conftest import AGENT_GATEWAY_HEADERS, OPENAI_HEADERS, SigningKey, gateway_doc, provider

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate("2026-11")


def put(client: TestClient | httpx.Client, doc: Any) -> Any:
    return client.put("/v1/config", content=orjson.dumps(doc), headers=NODE_HEADERS)


def version(client: TestClient) -> Any:
    return client.get("/v1/heartbeat", headers=NODE_HEADERS).json()["config_version"]


def tampered(envelope: dict[str, Any]) -> dict[str, Any]:
    payload = orjson.loads(base64.b64decode(envelope["payload"]))
    payload["agent_keys"][0]["revoked"] = True
    return {**envelope, "payload": base64.b64encode(orjson.dumps(payload)).decode()}


def test_envelopes_verify_only_with_the_right_key(key: SigningKey) -> None:
    envelope = key.sign({"version": 1})
    keys = {key.key_id: key.public_raw}
    assert orjson.loads(verify_envelope(envelope, keys)) == {"version": 1}
    other = SigningKey.generate(key.key_id)
    for bad, message in [
        (tampered(key.sign(config_doc())), "does not verify"),
        ({**envelope, "key_id": "old"}, "not one of this edge's bundle keys"),
        ({**envelope, "format": "acp-bundle-v2"}, "format"),
        ({**envelope, "signature": "%%%"}, "base64"),
        (other.sign({"version": 1}), "does not verify"),
    ]:
        with pytest.raises(BundleError, match=message):
            verify_envelope(bad, keys)


def test_the_provider_key_is_hkdf_sha256_of_the_node_token() -> None:
    # RFC 5869 by hand: extract with the salt, expand one block with the info.
    prk = hmac.new(b"acp-bundle", NODE_TOKEN.encode(), hashlib.sha256).digest()
    okm = hmac.new(prk, b"provider-keys\x01", hashlib.sha256).digest()
    from cryptography.fernet import Fernet

    token = Fernet(base64.urlsafe_b64encode(okm)).encrypt(b"sk-provider")
    assert provider_key(NODE_TOKEN).decrypt(token) == b"sk-provider"


def test_a_signed_bundle_is_applied_and_kept_across_restarts(
    tmp_path: Path, key: SigningKey
) -> None:
    keys = {key.key_id: key.public_raw}
    data_dir = tmp_path / "edge"
    with running_edge(data_dir, configure=False, bundle_public_keys=keys) as edge:
        response = put(edge, key.sign(config_doc(version=4)))
        assert (response.status_code, response.json()) == (200, {"version": 4})

        unsigned = put(edge, config_doc(version=5))
        assert unsigned.status_code == 400
        assert "only signed bundles" in unsigned.json()["detail"]
        bad = put(edge, tampered(key.sign(config_doc(version=6))))
        assert bad.status_code == 400 and "does not verify" in bad.json()["detail"]
        unknown = put(edge, SigningKey.generate("rogue").sign(config_doc(version=7)))
        assert unknown.status_code == 400
        stale = put(edge, key.sign(config_doc(version=3)))
        assert stale.status_code == 409
        assert version(edge) == 4
        served = edge.post("/v1/chat/completions", json=CHAT, headers=OPENAI_HEADERS)
        assert served.status_code != 401, "the agent key of version 4 is in force"

        formats = edge.get("/v1/heartbeat", headers=NODE_HEADERS).json()["config_formats"]
        assert formats == ["acp-bundle-v1"]

    stored = orjson.loads((data_dir / "config.json").read_bytes())
    assert stored["format"] == "acp-bundle-v1", "the signed envelope is what is kept"
    with running_edge(data_dir, configure=False, bundle_public_keys=keys) as edge:
        assert version(edge) == 4


def test_without_public_keys_a_bundle_is_refused_and_plain_documents_work(
    tmp_path: Path, key: SigningKey
) -> None:
    with running_edge(tmp_path / "edge", configure=False) as edge:
        response = put(edge, key.sign(config_doc()))
        assert response.status_code == 400
        assert "EDGE_BUNDLE_PUBLIC_KEYS" in response.json()["detail"]
        assert put(edge, config_doc()).status_code == 200
        formats = edge.get("/v1/heartbeat", headers=NODE_HEADERS).json()["config_formats"]
        assert formats == ["acp-config-v1"]


def test_an_unsigned_document_on_disk_is_not_trusted_once_keys_are_set(
    tmp_path: Path, key: SigningKey
) -> None:
    data_dir = tmp_path / "edge"
    with running_edge(data_dir) as edge:
        assert version(edge) == 1
    with running_edge(
        data_dir, configure=False, bundle_public_keys={key.key_id: key.public_raw}
    ) as edge:
        assert version(edge) is None, "unconfigured until a signed bundle arrives"
        response = edge.post("/v1/chat/completions", json=CHAT, headers=OPENAI_HEADERS)
        assert response.status_code == 401


def test_settings_for_bundles(key: SigningKey) -> None:
    env = {
        "EDGE_NODE_TOKEN": NODE_TOKEN,
        "EDGE_BUNDLE_PUBLIC_KEYS": f" {key.key_id}:{key.public_b64}, old:{key.public_b64} ",
    }
    settings = load_settings(env)
    assert settings.node_token_sha256 == sha256(NODE_TOKEN), "derived from the token"
    assert settings.node_token == NODE_TOKEN and NODE_TOKEN not in repr(settings)
    assert settings.bundle_public_keys == {key.key_id: key.public_raw, "old": key.public_raw}
    both = load_settings({**env, "EDGE_NODE_TOKEN_SHA256": sha256(NODE_TOKEN)})
    assert both.node_token == NODE_TOKEN
    for bad, named in [
        ({"EDGE_NODE_TOKEN_SHA256": sha256("other")}, "does not match"),
        ({"EDGE_BUNDLE_PUBLIC_KEYS": "k1"}, "EDGE_BUNDLE_PUBLIC_KEYS"),
        ({"EDGE_BUNDLE_PUBLIC_KEYS": "k1:%%%"}, "not base64"),
        ({"EDGE_BUNDLE_PUBLIC_KEYS": "k1:" + base64.b64encode(b"short").decode()}, "32 bytes"),
        ({"EDGE_GATEWAY_BREAKER_COOLDOWN_SECONDS": "soon"}, "COOLDOWN"),
    ]:
        with pytest.raises(SettingsError, match=named):
            load_settings({**env, **bad})
    defaults = load_settings({"EDGE_NODE_TOKEN_SHA256": sha256(NODE_TOKEN)})
    assert (defaults.bundle_public_keys, defaults.node_token) == ({}, None)
    assert (defaults.breaker_failures, defaults.breaker_cooldown_seconds) == (5, 30.0)


@pytest.mark.slow
def test_a_real_edge_serves_from_its_last_bundle_after_kill_9(
    tmp_path: Path,
    key: SigningKey,
    sims: Callable[..., RunningSim],
    edge_process: Callable[..., EdgeProcess],
) -> None:
    locked = sims(api_key="sk-upstream")
    secret = provider_key(NODE_TOKEN).encrypt(b"sk-upstream").decode()
    env = {
        "EDGE_NODE_TOKEN": NODE_TOKEN,
        "EDGE_BUNDLE_PUBLIC_KEYS": f"{key.key_id}:{key.public_b64}",
    }
    edge = edge_process(**env)
    bundle = key.sign(gateway_doc(providers=[provider("sim-a", locked.url, api_key_enc=secret)]))
    with edge.client() as client:
        assert put(client, bundle).status_code == 200

    def ask() -> str | None:
        agent = openai.OpenAI(
            api_key=AGENT_KEY,
            base_url=f"{edge.url}/v1",
            default_headers=AGENT_GATEWAY_HEADERS,
            max_retries=0,
        )
        completion = agent.chat.completions.create(**CHAT)  # type: ignore[call-overload]
        content: str | None = completion.choices[0].message.content
        return content

    assert ask()
    edge.kill()
    edge.start()  # the control plane is unreachable: nothing is pushed again
    assert ask()
    assert locked.sim.stats["unauthorized"] == 0
