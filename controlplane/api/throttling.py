"""Per-token rate limit: ``API_RATE_LIMIT_PER_MINUTE`` requests in each clock minute.

Counted in Django's cache (Redis when ``REDIS_URL`` is set, so every process shares the
count). Requests without a token are counted per client address. Over the limit the API
answers 429 with ``Retry-After``: the seconds until the minute is over.
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

WINDOW_SECONDS = 60


class TokenRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    @staticmethod
    def _subject(request: Request) -> str:
        token = request.auth
        if isinstance(token, ApiToken):
            return f"token:{token.pk}"
        return f"ip:{client_ip(request._request) or 'unknown'}"

    def allow_request(self, request: Request, view: Any) -> bool:
        limit = int(settings.API_RATE_LIMIT_PER_MINUTE)
        now = time.time()
        window = int(now // WINDOW_SECONDS)
        key = f"api-rate:{self._subject(request)}:{window}"
        cache.add(key, 0, timeout=WINDOW_SECONDS * 2)
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=WINDOW_SECONDS * 2)
            count = 1
        request.rate_limit = (limit, max(0, limit - count))  # type: ignore[attr-defined]
        if count > limit:
            self._wait = (window + 1) * WINDOW_SECONDS - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
