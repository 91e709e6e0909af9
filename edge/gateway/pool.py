"""Keep-alive connections to providers, O(1) per request.

httpcore's ``AsyncConnectionPool`` (behind ``httpx.AsyncHTTPTransport``) re-examines
every pooled connection — a readability syscall per idle one, and a quadratic idle
count — each time a request starts or ends. A gateway holds one connection per request
in flight, so at 50 concurrent requests that bookkeeping cost more than everything else
the edge does (measured: 230 requests/s instead of ~1000 to a local provider). This pool
keeps idle connections per origin in a stack instead: a request takes the most recently
used one (checked once) or opens a new one, and puts it back when its response is
closed. Connections are httpcore's own ``AsyncHTTPConnection`` (HTTP/1.1), and the
transport is httpx's, so timeouts, TLS and exception mapping stay httpx's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable
from typing import Any

import httpcore
import httpx

from edge import outbound

_STALE_RETRIES = 2
_STALE_ERRORS = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)
_FRESH = 1.0

_Key = tuple[bytes, bytes, int, bool]

ALLOW_PRIVATE = "acp_allow_private"
"""Request extension: whether this provider may be reached at loopback and private
addresses (``Provider.allow_private``). Connections are pooled apart by it."""


def _key(origin: httpcore.Origin, allow_private: bool) -> _Key:
    # Origin itself is not hashable.
    return origin.scheme, origin.host, origin.port, allow_private


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses ``edge.outbound`` allows, checked on the addresses
    the name resolves to now (not when the provider was saved: DNS rebinding), and
    connects to the very address it checked."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def _address(self, host: str, port: int, timeout: float | None) -> str:
        refusal = outbound.name_refusal(host, allow_private=self._allow_private)
        if refusal is not None:
            raise httpcore.ConnectError(f"{host} is {refusal}: the edge does not connect there")
        literal = outbound.literal_address(host)
        if literal is not None:
            found = [literal]
        else:
            try:
                async with asyncio.timeout(timeout):
                    infos = await asyncio.get_running_loop().getaddrinfo(
                        host, port, type=socket.SOCK_STREAM
                    )
            except (OSError, TimeoutError) as error:
                raise httpcore.ConnectError(f"cannot resolve {host}: {error}") from None
            # A scope id (``fe80::1%eth0``) does not change what the address is.
            found = [ipaddress.ip_address(str(info[4][0]).partition("%")[0]) for info in infos]
        for address in found:
            refusal = outbound.address_refusal(address, allow_private=self._allow_private)
            if refusal is not None:
                raise httpcore.ConnectError(
                    f"{host} resolves to {address}, {refusal}: the edge does not connect there"
                )
        return str(found[0])

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        address = await self._address(host.lower().rstrip("."), port, timeout)
        return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("providers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _ReturningStream:
    """The response body; closing it returns the connection to the pool."""

    def __init__(
        self,
        stream: Any,
        pool: OriginPool,
        key: _Key,
        connection: httpcore.AsyncHTTPConnection,
        slot: asyncio.Semaphore,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._key = key
        self._connection = connection
        self._slot = slot
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._stream:
            yield part

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()
        finally:
            self._slot.release()
            await self._pool.check_in(self._key, self._connection)


class OriginPool:
    """At most ``max_per_origin`` connections per origin (more requests wait for one)."""

    def __init__(
        self, *, ssl_context: ssl.SSLContext, max_per_origin: int, keepalive_expiry: float
    ) -> None:
        self._ssl_context = ssl_context
        self._max_per_origin = max_per_origin
        self._keepalive_expiry = keepalive_expiry
        self._idle: dict[_Key, deque[tuple[httpcore.AsyncHTTPConnection, float]]] = {}
        self._slots: dict[_Key, asyncio.Semaphore] = {}
        self._open: set[httpcore.AsyncHTTPConnection] = set()
        self._backends = {allow: GuardedBackend(allow_private=allow) for allow in (False, True)}

    @property
    def connections(self) -> int:
        return len(self._open)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        key = _key(origin, bool(request.extensions.get(ALLOW_PRIVATE, False)))
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(self._max_per_origin)
        await self._acquire(slot, request.extensions.get("timeout", {}).get("pool"))
        try:
            for attempt in range(_STALE_RETRIES + 1):
                connection, reused = await self._check_out(origin, key)
                try:
                    response = await connection.handle_async_request(request)
                except httpcore.ConnectionNotAvailable:
                    await self._discard(connection)
                    continue
                except _STALE_ERRORS:
                    await self._discard(connection)
                    # A kept-alive connection the server closed as we reused it (the
                    # keep-alive race): the request never reached the application, so
                    # it goes again on another connection.
                    if reused and attempt < _STALE_RETRIES:
                        continue
                    raise
                except BaseException:
                    await self._discard(connection)
                    raise
                return httpcore.Response(
                    status=response.status,
                    headers=response.headers,
                    content=_ReturningStream(response.stream, self, key, connection, slot),
                    extensions=response.extensions,
                )
            raise httpcore.ConnectionNotAvailable
        except BaseException:
            slot.release()
            raise

    @staticmethod
    async def _acquire(slot: asyncio.Semaphore, timeout: float | None) -> None:
        if timeout is None:
            await slot.acquire()
            return
        try:
            async with asyncio.timeout(timeout):
                await slot.acquire()
        except TimeoutError:
            raise httpcore.PoolTimeout("no connection to the provider became free") from None

    async def _check_out(
        self, origin: httpcore.Origin, key: _Key
    ) -> tuple[httpcore.AsyncHTTPConnection, bool]:
        """A connection, and whether it was kept alive from an earlier request."""
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection, since = idle.pop()
            # The expiry check probes the socket (several syscalls); a connection idle
            # for under a second cannot have hit a server's idle timeout, and the rare
            # connection dropped even so is caught by the stale retry above.
            if connection.is_idle() and (now - since < _FRESH or not connection.has_expired()):
                return connection, True
            await self._discard(connection)
        connection = httpcore.AsyncHTTPConnection(
            origin=origin,
            ssl_context=self._ssl_context,
            keepalive_expiry=self._keepalive_expiry,
            http1=True,
            http2=False,
            network_backend=self._backends[key[3]],
        )
        self._open.add(connection)
        return connection, False

    async def check_in(self, key: _Key, connection: httpcore.AsyncHTTPConnection) -> None:
        if not connection.is_idle():
            await self._discard(connection)
            return
        idle = self._idle.setdefault(key, deque())
        now = time.monotonic()
        idle.append((connection, now))
        # The least recently used connection is the first to outlive its keep-alive.
        oldest, since = idle[0]
        if oldest is not connection and now - since >= _FRESH and oldest.has_expired():
            idle.popleft()
            await self._discard(oldest)

    async def _discard(self, connection: httpcore.AsyncHTTPConnection) -> None:
        self._open.discard(connection)
        await connection.aclose()

    async def aclose(self) -> None:
        connections, self._open = self._open, set()
        self._idle.clear()
        for connection in connections:
            await connection.aclose()


class PooledTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over an ``OriginPool``."""

    def __init__(self, *, max_per_origin: int = 1000, keepalive_expiry: float = 30) -> None:
        super().__init__()
        # httpx builds its request/response objects around ``_pool`` (pinned httpx
        # 0.28); replacing it keeps all of that and changes only the bookkeeping.
        self.pool = OriginPool(
            ssl_context=httpx.create_ssl_context(),
            max_per_origin=max_per_origin,
            keepalive_expiry=keepalive_expiry,
        )
        self._pool = self.pool  # type: ignore[assignment]
