"""Provider adapters and their connection pool, against the simulated provider."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import httpx
import pytest

from edge.gateway.catalog import Provider
from edge.gateway.providers import AttemptError, ProviderClient, endpoint, headers, retryable
from edge.simprovider import RunningSim

BODY = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}]}'


def openai(url: str, **extra: object) -> Provider:
    return Provider("p", None, "openai", f"{url}/v1", frozenset(), **extra)  # type: ignore[arg-type]


def test_endpoints_and_headers() -> None:
    anthropic = Provider("a", None, "anthropic", "https://api.anthropic.com", frozenset(), "sk-a")
    assert endpoint(anthropic, "chat") == "https://api.anthropic.com/v1/messages"
    with_v1 = Provider("a", None, "anthropic", "https://proxy/v1", frozenset())
    assert endpoint(with_v1, "chat") == "https://proxy/v1/messages"
    assert endpoint(openai("https://api.openai.com"), "embeddings") == (
        "https://api.openai.com/v1/embeddings"
    )
    sent = headers(anthropic, {"anthropic-beta": "tools-1", "authorization": "Bearer agent"})
    assert sent["x-api-key"] == "sk-a" and sent["anthropic-beta"] == "tools-1"
    assert "authorization" not in sent, "the agent's key never goes upstream"
    assert headers(openai("http://x", api_key="sk-o"), {})["authorization"] == "Bearer sk-o"
    assert [retryable(s) for s in (400, 401, 404, 422, 429, 500, 503)] == [
        False,
        True,
        True,
        False,
        True,
        True,
        True,
    ]


def test_failures_become_attempt_errors(sims: Callable[..., RunningSim]) -> None:
    failing, slow = sims(error_rate=1.0), sims(latency_ms=500)

    async def run() -> None:
        client = ProviderClient.create()
        try:
            with pytest.raises(AttemptError) as error:
                await client.send(openai(failing.url), "chat", BODY, {}, 5)
            assert (error.value.status, error.value.http_status, error.value.retryable) == (
                "error",
                500,
                True,
            )
            with pytest.raises(AttemptError) as error:
                await client.send(openai(slow.url), "chat", BODY, {}, 0.1)
            assert error.value.status == "timeout"
            with pytest.raises(AttemptError) as error:
                await client.open_stream(openai(failing.url), "chat", BODY, {}, 5)
            assert error.value.http_status == 500 and b"simulated" in error.value.body
            with pytest.raises(AttemptError, match="ConnectError"):
                await client.send(openai("http://127.0.0.1:9"), "chat", BODY, {}, 5)
            locked = Provider("x", None, "openai", failing.url, frozenset(), key_unavailable=True)
            with pytest.raises(AttemptError, match="cannot be decrypted"):
                await client.send(locked, "chat", BODY, {}, 5)
        finally:
            await client.aclose()

    asyncio.run(run())


def test_connections_are_kept_alive_and_reused(sims: Callable[..., RunningSim]) -> None:
    sim = sims()

    async def run() -> None:
        client = ProviderClient.create(max_per_origin=8)
        pool = client.http._transport.pool  # type: ignore[attr-defined]
        try:
            for _ in range(5):
                response = await client.send(openai(sim.url), "chat", BODY, {}, 5)
                assert response.status_code == 200
            assert pool.connections == 1, "one connection served them all in turn"
            results = await asyncio.gather(
                *(client.send(openai(sim.url), "chat", BODY, {}, 5) for _ in range(40))
            )
            assert all(r.status_code == 200 for r in results)
            assert pool.connections <= 8, "at most max_per_origin connections"
            stream = await client.open_stream(openai(sim.url), "chat", BODY, {}, 5)
            await stream.aclose()
            assert pool.connections <= 8
        finally:
            await client.aclose()
        assert pool.connections == 0

    asyncio.run(run())


def test_a_connection_the_server_closed_is_replaced(sims: Callable[..., RunningSim]) -> None:
    first = sims()

    async def run() -> None:
        client = ProviderClient.create()
        try:
            assert (await client.send(openai(first.url), "chat", BODY, {}, 5)).status_code == 200
            port = first.port
            first.stop()  # closes the kept-alive connection from the server side
            from edge.simprovider import SimProvider, serve_in_thread

            again = serve_in_thread(SimProvider(), port=port)
            try:
                await asyncio.sleep(0.05)
                response = await client.send(openai(again.url), "chat", BODY, {}, 5)
                assert response.status_code == 200
            finally:
                again.stop()
        finally:
            await client.aclose()

    asyncio.run(run())


def test_the_shared_client_keeps_no_cookies(sims: Callable[..., RunningSim]) -> None:
    client = ProviderClient.create()
    response = httpx.Response(200, headers={"set-cookie": "affinity=tenant-a; Path=/"})
    response.request = httpx.Request("GET", "http://provider/v1/x")
    client.http.cookies.extract_cookies(response)
    assert len(client.http.cookies) == 0
    asyncio.run(client.aclose())


def test_the_keep_alive_race_is_retried_on_a_fresh_connection() -> None:
    """A server that drops a kept-alive connection when the next request arrives (as
    one closing idle connections at that moment does): the request goes again."""
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await reader.readuntil(b"\r\n\r\n")
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")  # the next request on this connection
        writer.close()

    async def run() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        client = ProviderClient.create()
        target = openai(f"http://127.0.0.1:{port}")
        try:
            for _ in range(3):
                response = await client.send(target, "chat", BODY, {}, 5)
                assert response.json() == {"ok": True}
        finally:
            await client.aclose()
            server.close()
        assert accepted == 3

    asyncio.run(run())
