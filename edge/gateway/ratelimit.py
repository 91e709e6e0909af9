"""The per-agent request-rate ceiling: a stage right after authentication.

The ceiling is the agent profile's ``max_requests_per_minute`` in the bundle (resolved
by the control plane from the agent, its role's defaults and the tenant's policy);
behavioural monitoring may set a learned one through the same field. A token bucket per
agent: a full minute's worth of requests may come in a burst, then they refill at
ceiling/60 per second. Over the ceiling the agent gets 429 in its API's shape with
``Retry-After``, and the refusal is captured like any other.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.gateway.verdicts import Refusal


@dataclass
class _Bucket:
    tokens: float
    at: float
    ceiling: int


class AgentRates:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}

    def admit(self, agent_id: str, ceiling: int | None) -> None:
        """Take one request from the agent's bucket, or refuse (429)."""
        if ceiling is None:
            self._buckets.pop(agent_id, None)
            return
        now = self._clock()
        bucket = self._buckets.get(agent_id)
        if bucket is None or bucket.ceiling != ceiling:
            # A new or changed ceiling starts full: the bundle just granted it.
            bucket = self._buckets[agent_id] = _Bucket(float(ceiling), now, ceiling)
        rate = ceiling / 60.0
        bucket.tokens = min(float(ceiling), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return
        wait = math.ceil((1.0 - bucket.tokens) / rate)
        raise Refusal(
            429,
            "acp_rate",
            "rate.agent_ceiling",
            f"this agent may send {ceiling} requests a minute; try again in {wait} s",
            stage="rate",
            retry_after=wait,
        )
