"""The history a detection run compares with is kept between runs (weeks of hours as
arrays per agent): it must answer as the rows read at every run would, after hours
close, and when a replay goes back before what was kept."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from controlplane.security import history, queries
from controlplane.security.baselines import AgentHistory, histories
from controlplane.security.scenario_spans import SpanRow
from tests.security.spans import history as daily_history
from tests.security.spans import insert, model_call, tool_call

NOW = dt.datetime(2026, 9, 16, 14, 30, tzinfo=dt.UTC)  # a Wednesday afternoon
MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
HISTORY = dt.timedelta(weeks=5)
METRICS = ("tasks", "tokens", "returned_rows", "cost")


def _calls(at: dt.datetime, count: int, tokens: int) -> list[SpanRow]:
    return [model_call(at + dt.timedelta(minutes=3 * n), tokens, tokens // 4) for n in range(count)]


def _answers(found: dict[uuid.UUID, AgentHistory], hours: list[dt.datetime]) -> dict[Any, Any]:
    """Everything the detectors ask a history, rounded past float summation order."""

    def robust(value: Any) -> tuple[float, float, int]:
        return (round(value.median, 9), round(value.mad, 9), value.samples)

    answers: dict[Any, Any] = {}
    for agent_id, agent in found.items():
        answers[agent_id, "first"] = agent.first_seen
        for metric in ("tokens", "returned_rows"):
            answers[agent_id, "per_task", metric] = robust(agent.per_task(metric))
        for hour in hours:
            answers[agent_id, "share", hour] = agent.active_share(hour)
            for metric in METRICS:
                answers[agent_id, "volume", hour, metric] = robust(agent.volume(hour, metric))
                answers[agent_id, "hourly", hour, metric] = robust(agent.hourly(hour, metric))
                answers[agent_id, "value", hour, metric] = round(agent.value(hour, metric), 9)
    return answers


Excluded = dict[uuid.UUID, list[tuple[dt.datetime, dt.datetime]]]


def _kept_and_read(
    tenant_id: uuid.UUID,
    since: dt.datetime,
    hours: list[dt.datetime],
    excluded: Excluded | None = None,
) -> None:
    start, excluded = since - HISTORY, excluded or {}
    first = queries.first_activity(tenant_id, since)
    read = histories(queries.agent_hours(tenant_id, history._day(start), since), first, excluded)
    minutes = queries.agent_minutes(tenant_id, since - HOUR, since)
    past, recent = history.agent_hours(tenant_id, start, since, minutes)
    kept = histories(recent, first, excluded, past)
    assert _answers(kept, hours) == _answers(read, hours)


def test_kept_hours_answer_as_rows_read_at_every_run_do() -> None:
    tenant_id, site_id, node_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    agents = [uuid.uuid4(), uuid.uuid4()]
    for number, agent_id in enumerate(agents):
        rows = []
        for day in range(22):
            for back in (4, 1, 0):  # hours before NOW's hour
                at = NOW.replace(minute=5) - day * dt.timedelta(days=1) - back * HOUR
                rows += _calls(at, 3 + (day + back + number) % 4, 800 + 100 * day)
        insert(tenant_id=tenant_id, site_id=site_id, node_id=node_id, agent_id=agent_id, rows=rows)
    hour = NOW.replace(minute=0)
    hours = [hour, hour - HOUR, hour - 4 * HOUR, hour + HOUR]

    _kept_and_read(tenant_id, NOW, hours)
    # Hours of an alert (not a false positive) are left out of the baselines.
    alert = NOW.replace(minute=0) - dt.timedelta(days=7, hours=5)
    _kept_and_read(tenant_id, NOW, hours, {agents[1]: [(alert, alert + 2 * HOUR)]})

    # An hour closes with new work in it: the kept hours grow by it.
    later = _calls(hour + HOUR + dt.timedelta(minutes=10), 7, 5000)
    insert(tenant_id=tenant_id, site_id=site_id, node_id=node_id, agent_id=agents[0], rows=later)
    _kept_and_read(tenant_id, NOW + 2 * HOUR, hours)
    past, _ = history.agent_hours(tenant_id, NOW + 2 * HOUR - HISTORY, NOW + 2 * HOUR, [])
    assert past[agents[0]].value(hour + HOUR, "tasks") == 7

    # A replay judges again from before the kept hours: it is not answered from them.
    _kept_and_read(tenant_id, NOW, hours)
    _kept_and_read(tenant_id, NOW - dt.timedelta(days=1), hours)


def test_the_runs_own_hour_is_made_from_its_minutes_as_the_rollup_query_makes_it() -> None:
    tenant_id, site_id, node_id, agent_id = (uuid.uuid4() for _ in range(4))
    hour = NOW.replace(minute=0)
    # Busiest ten minutes :20 to :29 (six calls; two more at :30 and :31, in the next slot).
    rows = _calls(hour + dt.timedelta(minutes=1), 3, 900) + _calls(
        hour + dt.timedelta(minutes=21), 4, 2500
    )
    rows += _calls(hour + dt.timedelta(minutes=22), 4, 2500)
    insert(tenant_id=tenant_id, site_id=site_id, node_id=node_id, agent_id=agent_id, rows=rows)
    until = hour + dt.timedelta(minutes=40)

    made = history.hours_of_minutes(queries.agent_minutes(tenant_id, hour, until), hour, until)

    [read] = queries.agent_hours(tenant_id, hour, until)
    [row] = made
    assert row.keys() == read.keys()
    assert (row["agent_id"], row["hour"]) == (read["agent_id"], read["hour"]) == (agent_id, hour)
    assert {k: row[k] for k in METRICS} == {k: pytest.approx(read[k]) for k in METRICS}
    peaks = [f"peak_{k}" for k in METRICS]
    assert {k: row[k] for k in peaks} == {k: pytest.approx(read[k]) for k in peaks}
    assert (row["peak_tasks"], row["tasks"]) == (6, 11)


def test_newcomers_of_the_day_are_read_again_only_when_an_unknown_agent_shows_up() -> None:
    tenant_id, site_id, node_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    old_hand, newcomer, late = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    today = NOW.replace(hour=0, minute=0)
    for agent_id, at in (
        (old_hand, today - dt.timedelta(days=3)),
        (old_hand, NOW - dt.timedelta(minutes=20)),
        (newcomer, today + dt.timedelta(hours=9)),
    ):
        insert(
            tenant_id=tenant_id,
            site_id=site_id,
            node_id=node_id,
            agent_id=agent_id,
            rows=_calls(at, 1, 500),
        )

    def first(until: dt.datetime) -> dict[uuid.UUID, dt.datetime]:
        minutes = queries.agent_minutes(tenant_id, until - HOUR, until)
        return history.first_activity(tenant_id, until, minutes)

    assert first(NOW) == queries.first_activity(tenant_id, NOW)
    assert set(first(NOW)) == {old_hand, newcomer}
    # Another agent starts work: the run's minutes show it, and it is read.
    insert(
        tenant_id=tenant_id,
        site_id=site_id,
        node_id=node_id,
        agent_id=late,
        rows=_calls(NOW + dt.timedelta(minutes=5), 1, 500),
    )
    later = NOW + dt.timedelta(minutes=10)
    assert first(later) == queries.first_activity(tenant_id, later)
    assert first(later)[late] == NOW + dt.timedelta(minutes=5)
    # A replay of the morning knows only who had started by then.
    morning = today + dt.timedelta(hours=10)
    assert first(morning) == queries.first_activity(tenant_id, morning)
    assert late not in first(morning)


def test_kept_scope_history_answers_as_one_read_does() -> None:
    tenant_id, site_id, node_id, agent_id = (uuid.uuid4() for _ in range(4))
    today = NOW.replace(hour=0, minute=0)
    rows = daily_history(NOW, days=5)
    rows += [tool_call(today + dt.timedelta(hours=h, minutes=7), "crm.lookup") for h in (2, 9, 13)]
    rows += [tool_call(NOW - dt.timedelta(minutes=m), "kb.search") for m in (28, 5)]
    rows.append(tool_call(NOW - dt.timedelta(minutes=3), "crm.lookup"))  # kept and read today

    def add(rows: list[SpanRow]) -> None:
        insert(tenant_id=tenant_id, site_id=site_id, node_id=node_id, agent_id=agent_id, rows=rows)

    def kept_and_read(since: dt.datetime) -> list[dict[str, Any]]:
        """The run's scope history and recent minutes against one read of each."""
        start, recent_from, until = since - 90 * DAY, since - HOUR, since + 2 * MINUTE
        kept, recent = history.scope(
            tenant_id, since, until, history_from=start, recent_from=recent_from
        )
        read = queries.scope_history(tenant_id, history._day(start), since)
        order = lambda row: (row["dimension"], row["item"])  # noqa: E731
        assert sorted(kept, key=order) == sorted(read, key=order)
        assert recent == queries.scope_minutes(tenant_id, recent_from, until)
        return kept

    add(rows)
    found = {row["item"]: row for row in kept_and_read(NOW)}
    assert (found["kb.search"]["days"], found["crm.lookup"]["days"]) == (6, 1)
    # A span of this morning arrives late: the kept hours of today are read again.
    add([tool_call(today + dt.timedelta(hours=3), "billing.refund")])
    assert "billing.refund" in {row["item"] for row in kept_and_read(NOW)}
    # Hours close, a day begins, and a replay goes back.
    add([tool_call(NOW + dt.timedelta(minutes=40), "crm.lookup")])
    # (At 15:08 the minutes are read from 14:00, before the recent hour.)
    for since in (NOW + HOUR, NOW + 38 * MINUTE, NOW + 11 * HOUR, NOW - DAY, NOW):
        kept_and_read(since)
