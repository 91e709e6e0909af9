"""Provider adapters: OpenAI-compatible and Anthropic, over one shared
``httpx.AsyncClient`` (connection pool per provider host, kept alive between requests).

An adapter only sends: it builds the URL and the provider's auth headers, and turns
transport failures into an ``AttemptError`` the route stage can fail over on. What the
bodies mean is ``translate``'s business.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from http.cookiejar import Cookie, CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

from edge.gateway.catalog import Provider
from edge.gateway.pool import ALLOW_PRIVATE, PooledTransport
from edge.gateway.request import ANTHROPIC, CHAT, EMBEDDINGS
from edge.gateway.translate import ANTHROPIC_VERSION

# Statuses worth another provider: the provider is down, overloaded, rate limiting us,
# or refuses our credentials or the model. Any other 4xx is the request's own fault
# and goes back to the agent as the provider said it.
RETRYABLE_STATUSES = frozenset({401, 403, 404, 408, 409, 429})
FORWARDED_HEADERS = ("anthropic-version", "anthropic-beta")


class AttemptError(Exception):
    """An attempt failed in a way another candidate may not: ``status`` is ``timeout``
    or ``error``; ``http_status`` is the provider's answer, if there was one."""

    def __init__(
        self,
        status: str,
        message: str,
        *,
        http_status: int | None = None,
        body: bytes = b"",
        retryable: bool = True,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.http_status = http_status
        self.body = body
        self.retryable = retryable


def retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUSES


def endpoint(provider: Provider, operation: str) -> str:
    if provider.kind == ANTHROPIC:
        # Anthropic's SDK convention leaves /v1 out of the base URL, OpenAI's keeps it in.
        base = provider.base_url if provider.base_url.endswith("/v1") else f"{provider.base_url}/v1"
        return f"{base}/messages"
    return f"{provider.base_url}/{'embeddings' if operation == EMBEDDINGS else 'chat/completions'}"


def headers(provider: Provider, agent_headers: Mapping[str, str]) -> dict[str, str]:
    sent = {"content-type": "application/json", "accept-encoding": "identity"}
    if provider.kind == ANTHROPIC:
        sent["anthropic-version"] = ANTHROPIC_VERSION
        for name in FORWARDED_HEADERS:
            if agent_headers.get(name):
                sent[name] = agent_headers[name]
        if provider.api_key:
            sent["x-api-key"] = provider.api_key
    elif provider.api_key:
        sent["authorization"] = f"Bearer {provider.api_key}"
    return sent


class _NoCookies(DefaultCookiePolicy):
    """Provider cookies (load balancer affinity, bot management) would be shared by
    every tenant's requests through the one client: keep none."""

    def set_ok(self, cookie: Cookie, request: Any) -> bool:
        return False


@dataclass
class ProviderClient:
    http: httpx.AsyncClient
    _urls: dict[tuple[str, str, str], httpx.URL] = field(default_factory=dict)

    @classmethod
    def create(cls, max_per_origin: int = 1000) -> ProviderClient:
        transport = PooledTransport(max_per_origin=max_per_origin, keepalive_expiry=30)
        client = httpx.AsyncClient(
            transport=transport,
            timeout=30,
            follow_redirects=False,
            cookies=CookieJar(policy=_NoCookies()),
        )
        return cls(client)

    def _url(self, provider: Provider, operation: str) -> httpx.URL:
        # Parsing a URL is a noticeable part of a request's cost in httpx.
        key = (provider.kind, provider.base_url, operation)
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = httpx.URL(endpoint(provider, operation))
        return url

    async def aclose(self) -> None:
        await self.http.aclose()

    def _request(
        self,
        provider: Provider,
        operation: str,
        body: bytes,
        agent_headers: Mapping[str, str],
        timeout: float,
    ) -> httpx.Request:
        if provider.key_unavailable:
            raise AttemptError("error", "the provider's key cannot be decrypted on this edge")
        if operation == EMBEDDINGS and provider.kind == ANTHROPIC:
            raise AttemptError("error", "Anthropic has no embeddings API")
        assert operation in (CHAT, EMBEDDINGS)
        # Built directly rather than with ``build_request``: the gateway sets every
        # header itself, and merging the client's defaults cost a tenth of a request.
        return httpx.Request(
            "POST",
            self._url(provider, operation),
            content=body,
            headers=headers(provider, agent_headers),
            extensions={
                "timeout": httpx.Timeout(timeout).as_dict(),
                ALLOW_PRIVATE: provider.allow_private,
            },
        )

    async def send(
        self,
        provider: Provider,
        operation: str,
        body: bytes,
        agent_headers: Mapping[str, str],
        timeout: float,
    ) -> httpx.Response:
        """The provider's whole answer, read; AttemptError unless it is a 2xx."""
        request = self._request(provider, operation, body, agent_headers, timeout)
        try:
            response = await self.http.send(request)
        except httpx.TimeoutException as error:
            raise AttemptError("timeout", f"timed out: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise AttemptError("error", f"{type(error).__name__}: {error}") from None
        _raise_for_status(response)
        return response

    async def open_stream(
        self,
        provider: Provider,
        operation: str,
        body: bytes,
        agent_headers: Mapping[str, str],
        timeout: float,
    ) -> httpx.Response:
        """A 2xx response whose body is still to be read (the caller closes it);
        AttemptError otherwise, before anything reached the agent."""
        request = self._request(provider, operation, body, agent_headers, timeout)
        try:
            response = await self.http.send(request, stream=True)
        except httpx.TimeoutException as error:
            raise AttemptError("timeout", f"timed out: {type(error).__name__}") from None
        except httpx.HTTPError as error:
            raise AttemptError("error", f"{type(error).__name__}: {error}") from None
        if response.is_success:
            return response
        try:
            content = await response.aread()
        except httpx.HTTPError:
            content = b""
        finally:
            await response.aclose()
        raise _status_error(response.status_code, content)


def _status_error(status: int, content: bytes) -> AttemptError:
    text = content[:300].decode(errors="replace")
    return AttemptError(
        "error",
        f"HTTP {status}: {text}",
        http_status=status,
        body=content,
        retryable=retryable(status),
    )


def _raise_for_status(response: httpx.Response) -> None:
    if not response.is_success:
        raise _status_error(response.status_code, response.content)
