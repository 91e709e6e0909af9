"""API rate limits, each counted in clock minutes: per token
(``API_RATE_LIMIT_PER_MINUTE``), per user across all their tokens
(``API_RATE_LIMIT_PER_USER_PER_MINUTE``: minting tokens does not multiply the limit) and
per tenant across all its users (``API_RATE_LIMIT_PER_TENANT_PER_MINUTE``). Requests
without a token are counted per client address.

Counted in Django's cache (Redis when ``REDIS_URL`` is set, so every process shares the
count). Over any limit the API answers 429 with ``Retry-After``: the seconds until the
minute is over. ``X-RateLimit-*`` report the limit with the least room left.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from controlplane.api.models import ApiToken
from controlplane.audit.services import client_ip
from tenants.selectors import user_membership

WINDOW_SECONDS = 60


def _subjects(request: Request) -> list[tuple[str, int]]:
    """(counter, limit) for every limit this request counts against."""
    token = request.auth
    if not isinstance(token, ApiToken):
        address = client_ip(request._request) or "unknown"
        return [(f"ip:{address}", settings.API_RATE_LIMIT_PER_MINUTE)]
    subjects = [
        (f"token:{token.pk}", settings.API_RATE_LIMIT_PER_MINUTE),
        (f"user:{token.user_id}", settings.API_RATE_LIMIT_PER_USER_PER_MINUTE),
    ]
    # A customer's requests count against their tenant; staff work across tenants.
    membership = None if token.user.is_msp_staff else user_membership(token.user)
    if membership is not None:
        tenant_id = membership.tenant_id
        subjects.append((f"tenant:{tenant_id}", settings.API_RATE_LIMIT_PER_TENANT_PER_MINUTE))
    return subjects


def _count(key: str) -> int:
    cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
    try:
        return int(cache.incr(key))
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
        return 1


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        tightest: tuple[int, int] | None = None
        over = False
        for subject, limit in _subjects(request):
            count = _count(f"api-rate:{subject}:{window}")
            room = (int(limit), max(0, int(limit) - count))
            if tightest is None or room[1] < tightest[1]:
                tightest = room
            over = over or count > int(limit)
        request.rate_limit = tightest  # type: ignore[attr-defined]
        if over:
            self._wait = (window + 1) * WINDOW_SECONDS - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
