"""Handing each request's record to the spool (``capture.record`` builds it) once the
answer is on its way, with the answer as the record keeps it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from decimal import Decimal
from typing import Any

import orjson

from edge.config import ConfigStore
from edge.gateway import capture, filtering, translate
from edge.gateway.budget import BudgetKey
from edge.gateway.capture import Exchange
from edge.gateway.planning import Plan
from edge.gateway.request import CHAT
from edge.spool import Spool, SpoolFullError
from edge.watch import Watch

logger = logging.getLogger("edge.gateway")


class Recorder:
    def __init__(self, config: ConfigStore, spool: Spool, watch: Watch) -> None:
        self.config = config
        self.spool = spool
        self.watch = watch

    def capture(
        self,
        exchange: Exchange,
        status: str,
        message: str,
        spend: Sequence[tuple[BudgetKey, Decimal]],
        finish: Callable[[], None] | None = None,
    ) -> None:
        """Record the request once the answer is on its way: building the record (and
        ``finish``, e.g. redacting the captured answer) runs after the response is
        sent, so the agent does not wait for it."""
        ended = time.time_ns()
        latency_ms = (time.monotonic() - exchange.started_monotonic) * 1000
        config = self.config.current
        if config is not None and config.watch:
            self.watch.count(
                config.watch,
                exchange.principal.agent_id,
                exchange.principal.tenant_id,
                tokens=exchange.tokens.input_tokens + exchange.tokens.output_tokens,
            )

        def write() -> None:
            if finish is not None:
                finish()
            event_id, body, kept = capture.record(
                exchange,
                status=status,
                status_message=message[:1000],
                ended_ns=ended,
                latency_ms=latency_ms,
                received_at=ended,
            )
            try:
                future = self.spool.append(
                    [(event_id, body)], ended, spend, bodies=[kept] if kept else ()
                )
            except Exception:
                logger.exception("the spool is closed: request %s not recorded", event_id)
                return
            future.add_done_callback(_log_capture_failure)

        asyncio.get_running_loop().call_soon(write)


def _log_capture_failure(future: Future[int]) -> None:
    error = future.exception()
    if isinstance(error, SpoolFullError):
        logger.error("the spool is full: a gateway record was dropped (its spend was kept)")
    elif error is not None:
        logger.error("a gateway record could not be written: %s", error)


def note_tool_calls(exchange: Exchange, api: str, answer: dict[str, Any]) -> None:
    """The tools the model called, for the policy and the behavioural baselines (the
    tools offered are ``acp.gateway.tools``)."""
    called = translate.called_tools(api, answer)
    if called:
        exchange.annotations["acp.gateway.tool_calls"] = called


def capture_answer(exchange: Exchange, planned: Plan, content: bytes) -> None:
    """The answer as the record keeps it: redacted when the tenant redacts."""
    if planned.policy.pii != "redact" or planned.request.operation != CHAT:
        exchange.response_body = content.decode(errors="replace")
        return
    answer = orjson.loads(content)
    for container, key in translate.answer_texts(planned.request.api, answer):
        container[key] = filtering.redact_text(container[key], planned.policy)
    exchange.response_body = orjson.dumps(answer).decode()
