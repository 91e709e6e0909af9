"""Quarantine at the edge: the bundle's ``quarantine`` section refuses the agent, its
device or the whole tenant at once, and a release lets it through again."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from edge.simprovider import RunningSim
from tests.edge.conftest import AGENT, DEVICE, TENANT

from .conftest import FINANCE_HEADERS, OPENAI_HEADERS, EdgeServer, gateway_doc, provider

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello"}]}


def configure(edge: EdgeServer, sim: RunningSim, version: int, **quarantine: Any) -> None:
    doc = gateway_doc(version, providers=[provider("sim-a", sim.url)])
    doc["quarantine"] = {"agents": [], "devices": [], "tenants": [], **quarantine}
    response = edge.configure(doc)
    assert response.status_code == 200, response.text


def chat(edge: EdgeServer, headers: dict[str, str]) -> httpx.Response:
    with edge.client() as client:
        return client.post("/v1/chat/completions", content=orjson.dumps(CHAT), headers=headers)


def test_a_quarantined_agent_is_refused_and_others_are_not(
    edge: EdgeServer, sim: RunningSim
) -> None:
    assert chat(edge, OPENAI_HEADERS).status_code == 200
    configure(edge, sim, 2, agents=[AGENT])
    refused = chat(edge, OPENAI_HEADERS)
    assert refused.status_code == 403
    error = refused.json()["error"]
    assert (error["type"], error["code"]) == ("acp_security", "security.quarantined")
    assert "quarantine" in error["message"]
    assert chat(edge, FINANCE_HEADERS).status_code == 200, "another agent is not affected"

    configure(edge, sim, 3)
    assert chat(edge, OPENAI_HEADERS).status_code == 200, "released"


def test_a_device_or_tenant_quarantine_refuses_every_agent_it_covers(
    edge: EdgeServer, sim: RunningSim
) -> None:
    configure(edge, sim, 2, devices=[DEVICE])
    assert chat(edge, OPENAI_HEADERS).status_code == 403
    assert chat(edge, FINANCE_HEADERS).status_code == 200, "on another device"
    configure(edge, sim, 3, tenants=[TENANT])
    assert chat(edge, OPENAI_HEADERS).status_code == 403
    assert chat(edge, FINANCE_HEADERS).status_code == 403


def test_a_malformed_quarantine_section_is_refused_naming_the_field(
    edge: EdgeServer, sim: RunningSim
) -> None:
    doc = gateway_doc(2, providers=[provider("sim-a", sim.url)])
    doc["quarantine"] = {"agents": ["not-a-uuid"]}
    response = edge.configure(doc)
    assert response.status_code in (400, 422)
    assert "quarantine.agents" in response.text
    assert chat(edge, OPENAI_HEADERS).status_code == 200, "the previous config still holds"
