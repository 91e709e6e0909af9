"""Outbound safety at the edge: a tenant's own provider never reaches loopback,
private, link-local or metadata addresses, checked on the address a name resolves to
when the edge connects (DNS rebinding); the MSP's providers and those staff marked
on-premises may use private networks and loopback (the simulated provider lives there)."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import httpcore
import pytest

from edge.gateway.pool import GuardedBackend
from edge.outbound import address_refusal, name_refusal
from edge.simprovider import RunningSim
from tests.edge.conftest import TENANT

from .conftest import EdgeServer, provider, route
from .test_gateway import CHAT, configure, post


@pytest.mark.parametrize(
    ("address", "private_ok", "refused"),
    [
        ("169.254.169.254", True, "a cloud metadata address"),
        ("::ffff:169.254.169.254", True, "a cloud metadata address"),
        ("fd00:ec2::254", True, "a cloud metadata address"),
        ("100.100.100.200", True, "a cloud metadata address"),
        ("169.254.10.1", True, "a link-local address"),
        ("fe80::1", True, "a link-local address"),
        ("0.0.0.0", True, "an address no provider has"),
        ("224.0.0.1", True, "an address no provider has"),
        ("127.0.0.1", False, "a loopback address"),
        ("::1", False, "a loopback address"),
        ("10.0.0.5", False, "a private address"),
        ("192.168.1.20", False, "a private address"),
        ("fd12::1", False, "a private address"),
        ("100.64.0.1", False, "a private address"),
        ("127.0.0.1", True, None),
        ("10.0.0.5", True, None),
        ("8.8.8.8", False, None),
        ("2606:4700::1111", False, None),
    ],
)
def test_which_addresses_a_provider_may_have(
    address: str, private_ok: bool, refused: str | None
) -> None:
    assert address_refusal(ipaddress.ip_address(address), allow_private=private_ok) == refused


def test_names_decided_without_a_lookup() -> None:
    assert name_refusal("metadata.google.internal", allow_private=True) == (
        "a cloud metadata address"
    )
    assert name_refusal("localhost", allow_private=False) == "a loopback address"
    assert name_refusal("localhost", allow_private=True) is None
    assert name_refusal("api.openai.com", allow_private=False) is None


def test_a_tenants_provider_on_loopback_is_not_connected_to(
    edges: Callable[..., EdgeServer], sim: RunningSim
) -> None:
    edge = edges()
    own = {"tenant_id": TENANT}
    configure(
        edge,
        providers=[
            provider("theirs", sim.url, **own),
            provider("theirs-by-name", sim.url.replace("127.0.0.1", "localhost"), **own),
            provider("on-prem", sim.url, **own, on_premises=True),
            provider("msp", sim.url),
        ],
        routes=[
            route("t", [{"provider_id": "theirs", "model": "*", "weight": 1}], model="t", **own),
            route(
                "n",
                [{"provider_id": "theirs-by-name", "model": "*", "weight": 1}],
                model="n",
                **own,
            ),
            route("o", [{"provider_id": "on-prem", "model": "*", "weight": 1}], model="o", **own),
            route("m", [{"provider_id": "msp", "model": "*", "weight": 1}], model="m"),
        ],
    )
    for model in ("t", "n"):
        refused = post(edge, {**CHAT, "model": model})
        assert refused.status_code == 502, refused.text
        assert "a loopback address: the edge does not connect there" in refused.text
    assert sim.sim.stats["requests"] == 0, "nothing reached the provider"
    assert post(edge, {**CHAT, "model": "o"}).status_code == 200
    assert post(edge, {**CHAT, "model": "m"}).status_code == 200
    records = edge.wait_records(4)
    errors = [a["error"] for r in records for a in r["attributes"]["acp.gateway.attempts"]]
    assert any("resolves" not in e and "localhost is a loopback" in e for e in errors)


def test_a_name_that_resolves_to_a_refused_address_at_connect_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: the name was public when the provider was saved; when the edge
    connects, it answers with the metadata service. The address checked is the one
    connected to."""
    answers: dict[str, list[str]] = {"rebind.example": ["93.184.216.34", "169.254.169.254"]}

    async def resolver(host: str, port: int, **kwargs: Any) -> list[Any]:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in answers[host]
        ]

    async def connect() -> None:
        monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", resolver)
        with pytest.raises(httpcore.ConnectError, match=r"169\.254\.169\.254, a cloud metadata"):
            await GuardedBackend(allow_private=True).connect_tcp("rebind.example", 443, 1.0)

    asyncio.run(connect())
