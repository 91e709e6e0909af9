"""The control plane's side of the edge protocol (docs/edge-protocol.md)."""

from __future__ import annotations

import functools
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
# What an edge answers per pull at most (docs/edge-protocol.md): records, and about this
# many bytes of them.
PULL_MAX_RECORDS = 10_000
PULL_MAX_BYTES = 32 << 20


class EdgeUnavailable(Exception):
    """The edge node did not answer, or answered with an error."""


class EdgeRejected(EdgeUnavailable):
    """The edge node answered with a 4xx: it understood the request and refused it."""

    def __init__(self, message: str, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class Pulled:
    lines: list[bytes]
    next_cursor: int


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (certificate checks on), made once per process: each
    client would otherwise load the CA bundle again (20-40 ms of CPU per pull run)."""
    return httpx.create_ssl_context()


def _check(method: str, path: str, response: httpx.Response) -> None:
    if response.status_code >= 400:
        message = f"{method} {path}: HTTP {response.status_code} {response.text[:200]}"
        if response.status_code < 500:
            raise EdgeRejected(message, response.status_code)
        raise EdgeUnavailable(message)


def _lines(body: bytes) -> list[bytes]:
    """The non-empty lines of ``body`` as views into it (memoryviews, bytes-like) rather
    than copies: splitting a pull's ~20 MB into 10,000 new bytes objects, and freeing
    them, cost ~0.8 µs of CPU per record more (docs/decisions/0052)."""
    view = memoryview(body)
    lines: list[bytes] = []
    append = lines.append
    find = body.find
    start = 0
    while (end := find(b"\n", start)) >= 0:
        if end > start:
            append(view[start:end])
        start = end + 1
    if start < len(body):
        append(view[start:])
    return lines


class EdgeClient:
    def __init__(self, base_url: str, token: str, *, timeout: httpx.Timeout = DEFAULT_TIMEOUT):
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            verify=_tls_context(),
        )

    def __enter__(self) -> EdgeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._client.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise EdgeUnavailable(f"{method} {path}: {type(exc).__name__}: {exc}") from exc
        _check(method, path, response)
        return response

    def pull(self, *, after: int, limit: int) -> Pulled:
        # Streamed, the body joined here rather than kept on the response: an httpx
        # response sits in reference cycles until the cyclic collector runs, and a pull's
        # ~20 MB held there made the next pulls fault in fresh memory (~1.5 µs of CPU
        # per record, docs/decisions/0052).
        body = b""
        try:
            with self._client.stream(
                "GET", "/v1/pull", params={"after": after, "limit": limit}
            ) as response:
                if response.status_code >= 400:
                    response.read()  # for the message
                else:
                    body = b"".join(response.iter_bytes())
        except httpx.HTTPError as exc:
            raise EdgeUnavailable(f"GET /v1/pull: {type(exc).__name__}: {exc}") from exc
        _check("GET", "/v1/pull", response)
        lines = _lines(body)
        next_cursor = int(response.headers.get("X-ACP-Next-Cursor", after))
        return Pulled(lines=lines, next_cursor=next_cursor)

    def pull_batch(self, *, after: int, limit: int) -> Pulled:
        """Up to ``limit`` records after ``after``, in as many pulls as it takes: an edge
        answers at most ``PULL_MAX_RECORDS`` records, or about ``PULL_MAX_BYTES`` of
        them, per pull (docs/edge-protocol.md). A pull short of both limits means the
        edge has no more: no further request for it."""
        lines: list[bytes] = []
        cursor = after
        while len(lines) < limit:
            asked = limit - len(lines)
            pulled = self.pull(after=cursor, limit=asked)
            lines += pulled.lines
            cursor = pulled.next_cursor
            count = len(pulled.lines)
            if count < min(asked, PULL_MAX_RECORDS) and (
                sum(map(len, pulled.lines)) < PULL_MAX_BYTES // 2
            ):
                break
        return Pulled(lines=lines, next_cursor=cursor)

    def ack(self, cursor: int) -> None:
        self._request("POST", "/v1/ack", json={"cursor": cursor})

    def heartbeat(self) -> dict[str, Any]:
        body: dict[str, Any] = self._request("GET", "/v1/heartbeat").json()
        return body

    def security_findings(self) -> dict[str, Any]:
        """What the edge's security fast path found (edge/watch.py), not yet acknowledged."""
        body: dict[str, Any] = self._request("GET", "/v1/security/findings").json()
        return body

    def security_findings_ack(self, cursor: int) -> None:
        self._request("POST", "/v1/security/findings/ack", json={"cursor": cursor})

    def privacy(self, order: str, document: dict[str, Any]) -> dict[str, Any]:
        """A retention or data-subject order (``purge``, ``find``, ``erase``); what the
        edge did, counted (edge/privacy.py)."""
        body: dict[str, Any] = self._request("POST", f"/v1/privacy/{order}", json=document).json()
        return body

    def put_config(self, document: dict[str, Any]) -> None:
        """Push a configuration (a plain document or a signed bundle envelope)."""
        try:
            self._request("PUT", "/v1/config", json=document)
        except EdgeRejected as exc:
            if exc.status_code != 409:  # 409: the node already has this version or newer
                raise

    def bodies(self, event_ids: list[str]) -> dict[str, Any]:
        """The bodies the edge keeps for residency tenants (docs/edge-protocol.md):
        ``{"bodies": [{"event_id", "tenant_id", "request_body", "response_body"}],
        "missing": [...]}``."""
        body: dict[str, Any] = self._request(
            "POST", "/v1/bodies", json={"event_ids": event_ids}
        ).json()
        return body
