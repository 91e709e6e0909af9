"""Bisection finds exactly the records a store refuses, stores every other one once, and
makes the same attempts every time (so retried ClickHouse parts keep their tokens)."""

from __future__ import annotations

import pytest

from controlplane.telemetry.isolation import isolate


class Refused(Exception):
    """The store refused the data."""


class Down(Exception):
    """The store is unreachable."""


class Store:
    """Takes a part whole or not at all; refuses any part holding a poisoned record."""

    def __init__(self, poisoned: set[int], down_after: int | None = None) -> None:
        self.poisoned = poisoned
        self.stored: list[int] = []
        self.attempts: list[range] = []
        self.down_after = down_after

    def attempt(self, part: range) -> None:
        self.attempts.append(part)
        if self.down_after is not None and len(self.attempts) > self.down_after:
            raise Down("connection refused")
        bad = self.poisoned.intersection(part)
        if bad:
            raise Refused(f"record {min(bad)} violates a constraint")
        self.stored.extend(part)


def _run(store: Store, count: int) -> dict[int, str]:
    first = Refused("the whole batch")
    return isolate(count, store.attempt, lambda exc: isinstance(exc, Refused), first)


@pytest.mark.parametrize("poisoned", [{0}, {4999}, {7, 8}, {1, 2500, 4998}, set(range(0, 40, 3))])
def test_only_the_poisoned_records_are_refused_and_every_other_is_stored_once(
    poisoned: set[int],
) -> None:
    store = Store(poisoned)

    refused = _run(store, 5000)

    assert set(refused) == poisoned
    assert all("violates a constraint" in reason for reason in refused.values())
    assert sorted(store.stored) == sorted(set(range(5000)) - poisoned)  # each once
    assert len(store.attempts) <= 2 * len(poisoned) * 13 + 2


def test_the_attempts_are_the_same_every_time() -> None:
    first, again = Store({3, 900}), Store({3, 900})
    _run(first, 1000)
    _run(again, 1000)
    assert first.attempts == again.attempts


def test_a_single_record_batch_is_refused_without_another_attempt() -> None:
    store = Store({0})
    assert list(_run(store, 1)) == [0] and store.attempts == []


def test_a_store_that_goes_down_fails_the_whole_isolation() -> None:
    with pytest.raises(Down):
        _run(Store({10}, down_after=3), 100)
    with pytest.raises(Down):  # a first failure that is not about the data
        isolate(10, Store(set()).attempt, lambda exc: isinstance(exc, Refused), Down("x"))
