"""The history a detection run compares with is kept between runs (weeks of hours as
arrays per agent): it must answer as the rows read at every run would, after hours
close, and when a replay goes back before what was kept."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from controlplane.security import history, queries
from controlplane.security.baselines import AgentHistory, histories
from controlplane.security.scenario_spans import SpanRow
from tests.security.spans import insert, model_call

NOW = dt.datetime(2026, 9, 16, 14, 30, tzinfo=dt.UTC)  # a Wednesday afternoon
HOUR = dt.timedelta(hours=1)
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
    past, recent = history.agent_hours(tenant_id, start, since)
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
    past, _ = history.agent_hours(tenant_id, NOW + 2 * HOUR - HISTORY, NOW + 2 * HOUR)
    assert past[agents[0]].value(hour + HOUR, "tasks") == 7

    # A replay judges again from before the kept hours: it is not answered from them.
    _kept_and_read(tenant_id, NOW, hours)
    _kept_and_read(tenant_id, NOW - dt.timedelta(days=1), hours)
