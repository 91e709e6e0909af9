"""The response cache: a whole answer kept per tenant, served again for an identical
request (docs/gateway.md, "Response cache"; decision 0022).

Exact match only: the key is a digest of the tenant, the agent's API, the route and
the request body without the fields that do not change the answer (``stream``,
``stream_options``, ``user``, ``metadata``, ``store``). A streamed and a whole request
share an entry: the entry is the whole answer in the agent's API, and a streamed hit
replays it as server-sent events (``replay``).

Opt-in per tenant (the policy's ``cache_ttl_seconds``, 0 = off). The agent controls
each request with ``Cache-Control: no-cache`` (do not read, store the fresh answer),
``no-store`` (neither) or ``x-acp-cache: off|refresh``; the answer says what happened
in ``x-acp-cache`` (``hit``, ``miss``, ``refresh``, ``bypass``). Requests the content
filter flagged or redacted are never read from nor written to the cache.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson

from edge.gateway import sse
from edge.gateway.request import CHAT, OPENAI, GatewayRequest
from edge.gateway.verdicts import ALLOW, Verdict

HIT, MISS, REFRESH, BYPASS = "hit", "miss", "refresh", "bypass"
_ANSWER_NEUTRAL = ("stream", "stream_options", "user", "metadata", "store")
MAX_ENTRY_BYTES = 1 << 20


@dataclass(frozen=True)
class Entry:
    tenant_id: str
    content: bytes
    """The whole answer as the agent's API has it (JSON)."""
    provider: str
    model: str
    response_model: str
    input_tokens: int
    output_tokens: int
    cost: Decimal
    """What the provider billed for it: what each hit saves."""
    stored_at: float
    expires_at: float

    @property
    def size(self) -> int:
        return len(self.content) + 256


@dataclass(frozen=True)
class Lookup:
    """What the cache decided for one request."""

    status: str
    key: str = ""
    ttl_seconds: int = 0
    entry: Entry | None = None

    @property
    def stores(self) -> bool:
        return self.status in (MISS, REFRESH)


def request_key(tenant_id: str, route_id: str, tier: str, request: GatewayRequest) -> str:
    normalised = {k: v for k, v in request.body.items() if k not in _ANSWER_NEUTRAL}
    material = orjson.dumps(
        [tenant_id, request.api, request.operation, route_id, tier, normalised],
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(material).hexdigest()


def _directive(headers: Mapping[str, str]) -> str | None:
    """The agent's wish for this request: ``bypass``, ``refresh`` or None."""
    control = {part.strip().lower() for part in headers.get("cache-control", "").split(",")}
    wish = headers.get("x-acp-cache", "").strip().lower()
    if "no-store" in control or wish in ("off", "bypass", "no-store"):
        return BYPASS
    if "no-cache" in control or wish in ("refresh", "no-cache"):
        return REFRESH
    return None


def flagged(verdicts: list[Verdict]) -> bool:
    """The content filter found something (in the request, or in the answer)."""
    return any(v.code.startswith("filter.") and v.verdict != ALLOW for v in verdicts)


class ResponseCache:
    """Entries of every tenant on this edge, bounded in bytes, least recently used
    evicted first; an entry past its TTL is never served."""

    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self.clock = clock
        self.bytes = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def lookup(
        self,
        *,
        tenant_id: str,
        ttl_seconds: int,
        route_id: str,
        tier: str,
        request: GatewayRequest,
        headers: Mapping[str, str],
        verdicts: list[Verdict],
    ) -> Lookup | None:
        """None when the tenant does not cache (nothing to report)."""
        if ttl_seconds <= 0 or request.operation != CHAT or self.max_bytes <= 0:
            return None
        directive = _directive(headers)
        if directive == BYPASS or request.redacted or flagged(verdicts):
            return Lookup(BYPASS)
        key = request_key(tenant_id, route_id, tier, request)
        if directive == REFRESH:
            return Lookup(REFRESH, key, ttl_seconds)
        entry = self._entries.get(key)
        if entry is not None and entry.tenant_id == tenant_id:
            if entry.expires_at > self.clock():
                self._entries.move_to_end(key)
                return Lookup(HIT, key, ttl_seconds, entry)
            self._drop(key)
        return Lookup(MISS, key, ttl_seconds)

    def store(self, lookup: Lookup, entry: Entry) -> bool:
        if not lookup.stores or entry.size > min(MAX_ENTRY_BYTES, self.max_bytes):
            return False
        if lookup.key in self._entries:
            self._drop(lookup.key)
        self._entries[lookup.key] = entry
        self.bytes += entry.size
        while self.bytes > self.max_bytes:
            self._drop(next(iter(self._entries)))
        return True

    def count(self, condition: Callable[[Entry], bool]) -> int:
        return sum(1 for entry in self._entries.values() if condition(entry))

    def remove(self, condition: Callable[[Entry], bool]) -> int:
        """Drop every entry ``condition`` holds for (retention and erasure,
        edge/privacy.py); how many were dropped."""
        keys = [key for key, entry in self._entries.items() if condition(entry)]
        for key in keys:
            self._drop(key)
        return len(keys)

    def _drop(self, key: str) -> None:
        entry = self._entries.pop(key)
        self.bytes -= entry.size


def hit_annotations(entry: Entry, now: float) -> dict[str, Any]:
    """What a hit's record says it saved (it has no attempts and no tokens of its own)."""
    return {
        "acp.gateway.cache_saved": str(entry.cost),
        "acp.gateway.cache_saved_input_tokens": entry.input_tokens,
        "acp.gateway.cache_saved_output_tokens": entry.output_tokens,
        "acp.gateway.cache_age_s": round(now - entry.stored_at, 3),
    }


def cacheable_answer(api: str, answer: Mapping[str, Any]) -> bool:
    """Only answers that ended normally: a cut-off or refused one is not worth
    repeating."""
    if api == OPENAI:
        choices = answer.get("choices") or []
        return bool(choices) and all(
            isinstance(c, dict) and c.get("finish_reason") in ("stop", "tool_calls")
            for c in choices
        )
    return answer.get("stop_reason") in ("end_turn", "tool_use", "stop_sequence")


# --- replay as a stream ------------------------------------------------------------------


def replay(api: str, content: bytes, include_usage: bool) -> bytes:
    """A cached whole answer as the stream its API's SDK expects."""
    answer = orjson.loads(content)
    if api == OPENAI:
        return _openai_stream(answer, include_usage)
    return _anthropic_stream(answer)


def _openai_stream(answer: dict[str, Any], include_usage: bool) -> bytes:
    base = {
        "id": answer.get("id", ""),
        "object": "chat.completion.chunk",
        "created": answer.get("created", int(time.time())),
        "model": answer.get("model", ""),
    }
    out = []
    for choice in answer.get("choices") or []:
        message = choice.get("message") or {}
        index = choice.get("index", 0)
        delta: dict[str, Any] = {"role": "assistant", "content": message.get("content") or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": position} for position, call in enumerate(message["tool_calls"])
            ]
        for piece, finish in ((delta, None), ({}, choice.get("finish_reason"))):
            chunk = {**base, "choices": [{"index": index, "delta": piece, "finish_reason": finish}]}
            out.append(sse.encode(orjson.dumps(chunk)))
    if include_usage and isinstance(answer.get("usage"), dict):
        out.append(sse.encode(orjson.dumps({**base, "choices": [], "usage": answer["usage"]})))
    out.append(b"data: [DONE]\n\n")
    return b"".join(out)


def _anthropic_stream(answer: dict[str, Any]) -> bytes:
    usage = answer.get("usage") or {}
    start = {
        **answer,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": usage.get("input_tokens", 0), "output_tokens": 0},
    }
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": start})
    ]
    for index, block in enumerate(answer.get("content") or []):
        if block.get("type") == "tool_use":
            opening = {**block, "input": {}}
            delta = {
                "type": "input_json_delta",
                "partial_json": orjson.dumps(block["input"]).decode(),
            }
        else:
            opening = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block.get("text", "")}
        events.append(
            (
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": opening},
            )
        )
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    stop = {"stop_reason": answer.get("stop_reason"), "stop_sequence": answer.get("stop_sequence")}
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": stop,
                "usage": {"output_tokens": usage.get("output_tokens", 0)},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return b"".join(sse.encode(orjson.dumps(body), name) for name, body in events)
