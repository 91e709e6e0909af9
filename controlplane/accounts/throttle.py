"""Failure counters that lock out brute-force attempts, kept in Django's cache.

A counter starts at the first failure and lives for the lockout window. When it reaches
its limit, a separate lock key is written for a full window, so the lock always lasts
``LOGIN_LOCKOUT_SECONDS`` from the failure that triggered it, however late in the
counting window that failure came. The lock stores its expiry time so the page can say
how long is left (the cache API has no portable way to read a key's TTL).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache


def _digest(identifier: str) -> str:
    # Hashed: cache keys must be short and safe whatever an email or address contains.
    return hashlib.sha256(identifier.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class FailureCounter:
    """Counts failures of one kind per identifier (an email, an address, a user id)."""

    scope: str
    limit_setting: str = "LOGIN_MAX_FAILURES"
    window_setting: str = "LOGIN_LOCKOUT_SECONDS"

    @property
    def limit(self) -> int:
        return int(getattr(settings, self.limit_setting))

    @property
    def window(self) -> int:
        return int(getattr(settings, self.window_setting))

    def _keys(self, identifier: str) -> tuple[str, str]:
        digest = _digest(identifier)
        return f"auth-fail:{self.scope}:{digest}", f"auth-lock:{self.scope}:{digest}"

    def locked_for(self, identifier: str) -> int:
        """Seconds left on the lock of ``identifier``; 0 when it is not locked."""
        _, lock_key = self._keys(identifier)
        until = cache.get(lock_key)
        if until is None:
            return 0
        return max(1, math.ceil(float(until) - time.time()))

    def record_failure(self, identifier: str) -> bool:
        """Count one failure; return True when this failure locks ``identifier``."""
        count_key, lock_key = self._keys(identifier)
        cache.add(count_key, 0, timeout=self.window)
        try:
            failures = cache.incr(count_key)
        except ValueError:  # the counter expired between add() and incr()
            cache.set(count_key, 1, timeout=self.window)
            failures = 1
        if failures < self.limit:
            return False
        cache.set(lock_key, time.time() + self.window, timeout=self.window)
        cache.delete(count_key)
        return True

    def reset(self, identifier: str) -> None:
        cache.delete_many(list(self._keys(identifier)))


login_by_account = FailureCounter("login-account")
login_by_ip = FailureCounter("login-ip", limit_setting="LOGIN_MAX_FAILURES_PER_IP")
mfa_by_user = FailureCounter("mfa-user")
# API tokens: per client address, and per token prefix (the part before the secret), so
# guessing one token's secret is slowed however many addresses the guesser has.
api_auth_by_ip = FailureCounter(
    "api-auth-ip", "API_AUTH_MAX_FAILURES_PER_IP", "API_AUTH_LOCKOUT_SECONDS"
)
api_auth_by_prefix = FailureCounter(
    "api-auth-prefix", "API_AUTH_MAX_FAILURES_PER_PREFIX", "API_AUTH_LOCKOUT_SECONDS"
)


def account_identifier(email: str) -> str:
    return email.strip().lower()
