"""Circuit breakers: open after consecutive failures, one probe after the cool-down."""

from __future__ import annotations

from edge.gateway.breaker import CLOSED, HALF_OPEN, OPEN, Breaker, Breakers


def test_opens_after_consecutive_failures_only() -> None:
    breaker = Breaker(failures_to_open=3, cooldown=10)
    breaker.failure(0)
    breaker.failure(0)
    breaker.success()
    breaker.failure(0)
    breaker.failure(0)
    assert breaker.state == CLOSED and breaker.allow(0)
    breaker.failure(1)
    assert breaker.state == OPEN
    assert not breaker.allow(5)


def test_one_probe_after_the_cooldown_closes_or_reopens_it() -> None:
    breaker = Breaker(failures_to_open=1, cooldown=10)
    breaker.failure(0)
    assert breaker.allow(10) and breaker.state == HALF_OPEN
    assert not breaker.allow(10), "one probe at a time"
    breaker.failure(11)
    assert breaker.state == OPEN and not breaker.allow(15)
    assert breaker.allow(21)
    breaker.success()
    assert breaker.state == CLOSED and breaker.allow(21) and breaker.allow(21)


def test_a_probe_that_did_not_happen_is_given_back() -> None:
    breaker = Breaker(failures_to_open=1, cooldown=0)
    breaker.failure(0)
    assert breaker.allow(1)
    breaker.release()
    assert breaker.allow(1)


def test_failure_says_whether_it_tripped_the_breaker() -> None:
    breaker = Breaker(failures_to_open=2, cooldown=10)
    assert [breaker.failure(0), breaker.failure(0), breaker.failure(1)] == [False, True, False]
    assert breaker.allow(10)
    assert breaker.failure(10), "a failed probe trips it again"


def test_late_answers_do_not_move_an_open_breaker() -> None:
    breaker = Breaker(failures_to_open=1, cooldown=10)
    breaker.failure(0)
    breaker.success()
    breaker.failure(3)
    assert (breaker.state, breaker.opened_at) == (OPEN, 0)


def test_one_breaker_per_provider_and_model() -> None:
    breakers = Breakers(failures_to_open=1, cooldown=1)
    breakers.get("p", "a").failure(0)
    assert breakers.get("p", "b").allow(0)
    assert breakers.states() == {"p/a": OPEN, "p/b": CLOSED}
