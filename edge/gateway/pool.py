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
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpcore
import httpx

_STALE_RETRIES = 2
_STALE_ERRORS = (httpcore.RemoteProtocolError, httpcore.ReadError, httpcore.WriteError)
_FRESH = 1.0

_Key = tuple[bytes, bytes, int]


def _key(origin: httpcore.Origin) -> _Key:
    return origin.scheme, origin.host, origin.port  # Origin itself is not hashable


class _ReturningStream:
    """The response body; closing it returns the connection to the pool."""

    def __init__(
        self,
        stream: Any,
        pool: OriginPool,
        origin: httpcore.Origin,
        connection: httpcore.AsyncHTTPConnection,
        slot: asyncio.Semaphore,
    ) -> None:
        self._stream = stream
        self._pool = pool
        self._origin = origin
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
            await self._pool.check_in(self._origin, self._connection)


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

    @property
    def connections(self) -> int:
        return len(self._open)

    async def handle_async_request(self, request: httpcore.Request) -> httpcore.Response:
        origin = request.url.origin
        slot = self._slots.get(_key(origin))
        if slot is None:
            slot = self._slots[_key(origin)] = asyncio.Semaphore(self._max_per_origin)
        await self._acquire(slot, request.extensions.get("timeout", {}).get("pool"))
        try:
            for attempt in range(_STALE_RETRIES + 1):
                connection, reused = await self._check_out(origin)
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
                    content=_ReturningStream(response.stream, self, origin, connection, slot),
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
        self, origin: httpcore.Origin
    ) -> tuple[httpcore.AsyncHTTPConnection, bool]:
        """A connection, and whether it was kept alive from an earlier request."""
        idle = self._idle.get(_key(origin))
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
        )
        self._open.add(connection)
        return connection, False

    async def check_in(
        self, origin: httpcore.Origin, connection: httpcore.AsyncHTTPConnection
    ) -> None:
        if not connection.is_idle():
            await self._discard(connection)
            return
        idle = self._idle.setdefault(_key(origin), deque())
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
