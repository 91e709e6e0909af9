"""The response cache in the pipeline: answering from it before any provider is asked,
and keeping a served answer for the next identical request."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from edge.gateway import cache
from edge.gateway.capture import Exchange
from edge.gateway.planning import Plan
from edge.gateway.recorder import Recorder, capture_answer, note_tool_calls
from edge.gateway.reply import Reply


def from_cache(
    responses: cache.ResponseCache, recorder: Recorder, exchange: Exchange, planned: Plan
) -> Reply | None:
    """The cached answer when there is one: no provider call, no cost, and the
    saving on the record."""
    lookup = planned.cache = responses.lookup(
        tenant_id=exchange.principal.tenant_id,
        ttl_seconds=planned.policy.cache_ttl_seconds,
        route_id=planned.route.route_id,
        tier=exchange.tier,
        request=planned.request,
        headers=planned.headers,
        verdicts=exchange.verdicts,
    )
    if lookup is None:
        return None
    exchange.annotations["acp.gateway.cache"] = lookup.status
    entry = lookup.entry
    if entry is None:
        return None
    exchange.provider, exchange.model = entry.provider, entry.model
    exchange.response_model = entry.response_model
    exchange.annotations.update(cache.hit_annotations(entry, responses.clock()))
    note_tool_calls(exchange, planned.request.api, orjson.loads(entry.content))
    finish = functools.partial(capture_answer, exchange, planned, entry.content)
    recorder.capture(exchange, "ok", "", planned.spend, finish)
    headers = cache_headers(planned)
    headers["age"] = str(int(responses.clock() - entry.stored_at))
    request = planned.request
    if not request.stream:
        return Reply(200, entry.content, headers=headers)
    headers.update({"content-type": "text/event-stream", "cache-control": "no-cache"})
    return Reply(
        200, cache.replay(request.api, entry.content, request.include_usage), headers=headers
    )


def remember(
    responses: cache.ResponseCache,
    exchange: Exchange,
    planned: Plan,
    answer: dict[str, Any],
    content: bytes,
) -> None:
    """Keep a served answer for the next identical request (when the tenant caches)."""
    lookup = planned.cache
    if lookup is None or not lookup.stores or cache.flagged(exchange.verdicts):
        return
    if not cache.cacheable_answer(planned.request.api, answer):
        return
    now = responses.clock()
    entry = cache.Entry(
        tenant_id=exchange.principal.tenant_id,
        content=content,
        provider=exchange.provider,
        model=exchange.model,
        response_model=exchange.response_model,
        input_tokens=exchange.tokens.input_tokens,
        output_tokens=exchange.tokens.output_tokens,
        cost=exchange.attempts[-1].cost,
        stored_at=now,
        expires_at=now + lookup.ttl_seconds,
    )
    responses.store(lookup, entry)


def cache_headers(planned: Plan) -> dict[str, str]:
    return {"x-acp-cache": planned.cache.status} if planned.cache is not None else {}
