"""Failed authentication at the edge, throttled per client address and per key prefix
(``acpk_<prefix>_<secret>`` for agents, ``acpc_<prefix>_<secret>`` for site
collectors): guessing keys is slowed both from one address and, for one key, from
however many addresses.

Counted in the edge process's memory (an edge is one process); a lock lasts
``EDGE_AUTH_LOCKOUT_SECONDS`` from the failure that reached the limit, and refuses every
request of that address or prefix until then (429 with ``Retry-After``), even one with
the right key, since otherwise the lock would not slow a guesser at all.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from edge.auth import AuthError, bearer_token

T = TypeVar("T")

_MAX_TRACKED = 100_000  # entries kept before expired ones are swept


@dataclass
class _Entry:
    failures: int = 0
    since: float = 0.0
    locked_until: float = 0.0


@dataclass
class FailureCounter:
    limit: int
    window: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def locked_for(self, key: str) -> int:
        entry = self._entries.get(key)
        left = entry.locked_until - self.clock() if entry else 0.0
        return math.ceil(left) if left > 0 else 0

    def failed(self, key: str) -> None:
        now = self.clock()
        if len(self._entries) >= _MAX_TRACKED:
            self._sweep(now)
        entry = self._entries.setdefault(key, _Entry(since=now))
        if now - entry.since > self.window:
            entry.failures, entry.since = 0, now
        entry.failures += 1
        if entry.failures >= self.limit:
            entry.locked_until, entry.failures, entry.since = now + self.window, 0, now

    def _sweep(self, now: float) -> None:
        self._entries = {
            key: entry
            for key, entry in self._entries.items()
            if entry.locked_until > now or now - entry.since <= self.window
        }


def key_prefix(token: str | None) -> str | None:
    parts = (token or "").split("_", 2)
    if len(parts) == 3 and parts[0] in ("acpk", "acpc") and parts[1]:
        return f"{parts[0]}_{parts[1]}"
    return None


class AuthThrottle:
    def __init__(
        self,
        *,
        per_address: int,
        per_key: int,
        lockout_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.by_address = FailureCounter(per_address, lockout_seconds, clock)
        self.by_key = FailureCounter(per_key, lockout_seconds, clock)

    def authenticate(self, address: str, authorization: str | None, check: Callable[[], T]) -> T:
        """``check()`` unless the address or the key's prefix is locked; a 401 it raises
        counts as a failure of both."""
        prefix = key_prefix(bearer_token(authorization))
        locked = max(
            self.by_address.locked_for(address),
            self.by_key.locked_for(prefix) if prefix else 0,
        )
        if locked:
            raise AuthError(
                429,
                f"too many failed authentications; try again in {locked} s",
                retry_after=locked,
            )
        try:
            return check()
        except AuthError as error:
            if error.status == 401:
                self.by_address.failed(address)
                if prefix:
                    self.by_key.failed(prefix)
            raise
