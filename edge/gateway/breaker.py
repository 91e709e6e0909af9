"""Circuit breakers, one per provider and model: after ``failures`` consecutive failed
attempts the pair is skipped for ``cooldown`` seconds, then one probe request is let
through (half-open); its success closes the breaker, its failure opens it again."""

from __future__ import annotations

from dataclasses import dataclass, field

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class Breaker:
    failures_to_open: int
    cooldown: float
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probing: bool = False

    def allow(self, now: float) -> bool:
        """May an attempt go to this pair now? Granting the half-open probe reserves it
        until ``success``, ``failure`` or ``release``."""
        if self.state == CLOSED:
            return True
        if self.state == OPEN:
            if now - self.opened_at < self.cooldown:
                return False
            self.state = HALF_OPEN
            self.probing = False
        if self.probing:
            return False
        self.probing = True
        return True

    def success(self) -> None:
        if self.state == OPEN:
            return  # a late answer from before the breaker opened proves nothing now
        self.state, self.failures, self.probing = CLOSED, 0, False

    def failure(self, now: float) -> bool:
        """Count a failed attempt; True when it opened (tripped) the breaker."""
        if self.state == OPEN:
            return False
        if self.state == HALF_OPEN:
            self.state, self.opened_at, self.probing = OPEN, now, False
            return True
        self.failures += 1
        if self.failures >= self.failures_to_open:
            self.state, self.opened_at = OPEN, now
            return True
        return False

    def release(self) -> None:
        """The granted attempt did not happen (e.g. refused by the budget)."""
        self.probing = False


@dataclass
class Breakers:
    failures_to_open: int
    cooldown: float
    _breakers: dict[tuple[str, str], Breaker] = field(default_factory=dict)

    def get(self, provider_id: str, model: str) -> Breaker:
        key = (provider_id, model)
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = Breaker(self.failures_to_open, self.cooldown)
        return breaker

    def states(self) -> dict[str, str]:
        return {f"{p}/{m}": b.state for (p, m), b in self._breakers.items()}
