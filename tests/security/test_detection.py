"""The detectors over real chDB data, in event time: what they raise, the evidence an
analyst sees, and what they keep quiet about."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest

from controlplane.core.tenancy import tenant_context
from controlplane.security.models import Alert, DetectionCursor, Incident, Kind
from controlplane.security.scenarios import AgentSpec, Effect
from controlplane.security.services import detection_rewind, detection_run
from tests.security.conftest import MINUTE, WEEK3, Loaded

TUESDAY_10 = WEEK3 + dt.timedelta(days=1, hours=10)
WEDNESDAY_3AM = WEEK3 + dt.timedelta(days=2, hours=3)


def alerts(loaded: Loaded) -> list[Alert]:
    with tenant_context(loaded.tenant):
        return list(Alert.objects.order_by("started_at"))


@pytest.mark.slow
def test_a_flood_an_export_and_a_night_shift_raise_one_alert_each_with_evidence(
    scenario: Callable[..., Loaded],
) -> None:
    loaded = scenario(
        [
            Effect("sup-1", TUESDAY_10, TUESDAY_10 + 30 * MINUTE, rate_factor=10),
            Effect(
                "eng-1",
                TUESDAY_10 + dt.timedelta(hours=3),
                TUESDAY_10 + dt.timedelta(hours=3, minutes=20),
                tool="db.export",
                tool_calls=30,
                tool_rows=2000,
            ),
            Effect("sup-2", WEDNESDAY_3AM, WEDNESDAY_3AM + 40 * MINUTE, extra_rate=60),
        ],
        # The same telemetry each run: a draw of noise of its own could lift sup-1's and
        # sup-2's quiet minutes together now and then (a coordination alert the
        # assertions below do not expect).
        noise="flood-export-night",
    )
    loaded.judge(WEEK3 + dt.timedelta(days=1), WEEK3 + dt.timedelta(days=3))
    raised = alerts(loaded)
    by_kind = {(a.kind, loaded_name(loaded, a)) for a in raised}
    assert (Kind.VOLUME, "sup-1") in by_kind
    assert (Kind.SCOPE, "eng-1") in by_kind
    assert (Kind.TEMPORAL, "sup-2") in by_kind
    volume = next(a for a in raised if a.kind == Kind.VOLUME)
    assert (
        volume.evidence["ratio"] >= 3
        and volume.evidence["observed"] > volume.evidence["baseline_median"]
    )
    assert (
        TUESDAY_10
        <= dt.datetime.fromisoformat(volume.evidence["detected_at"])
        <= (TUESDAY_10 + 10 * MINUTE)
    ), "raised within minutes of the flood's start, in event time"
    assert volume.evidence["sample_traces"], "links to traces of the minutes judged"
    scope = next(a for a in raised if a.kind == Kind.SCOPE)
    items = {(i["dimension"], i["item"]) for i in scope.evidence["items"]}
    assert ("collection", "customers_all") in items and ("tool", "db.export") in items
    tool = next(i for i in scope.evidence["items"] if i["item"] == "db.export")
    assert tool["first_time_for_agent"] and tool["uncommon_in_tenant"]
    temporal = next(a for a in raised if a.kind == Kind.TEMPORAL)
    assert temporal.evidence["weeks_active_in_this_hour"] == 0
    assert temporal.evidence["hour_of_week"] == "Wed 03:00"
    quiet = {loaded_name(loaded, a) for a in raised} - {"sup-1", "eng-1", "sup-2"}
    assert not quiet, f"no alert for agents doing their usual work: {quiet}"
    with tenant_context(loaded.tenant):
        assert Incident.objects.count() == len({a.incident_id for a in raised})

    detection_rewind(tenant_id=loaded.tenant.pk, to=WEEK3 + dt.timedelta(days=1))
    loaded.judge(WEEK3 + dt.timedelta(days=1), WEEK3 + dt.timedelta(days=3))
    assert len(alerts(loaded)) == len(raised), "judging the same minutes again raises nothing new"


def loaded_name(loaded: Loaded, alert: Alert) -> str:
    names = {agent_id: name for name, agent_id in loaded.agents.items()}
    return ",".join(sorted(names[a] for a in alert.agent_ids))


@pytest.mark.slow
def test_a_pass_after_a_pull_raises_on_minutes_still_open_without_moving_the_cursor(
    scenario: Callable[..., Loaded],
) -> None:
    export = TUESDAY_10 + dt.timedelta(hours=3)
    loaded = scenario(
        [
            Effect(
                "eng-1",
                export,
                export + 5 * MINUTE,
                tool="db.export",
                tool_calls=10,
                tool_rows=2000,
            )
        ],
        noise="still-open",  # the same telemetry each run: the assertions name exact kinds
    )
    loaded.judge(export - dt.timedelta(hours=2), export)
    assert alerts(loaded) == []
    # A minute into the export: the closed-minute rule (a minute of lateness) judges
    # nothing of it yet; the pass after the pull also judges the minutes still open.
    now = export + MINUTE + dt.timedelta(seconds=5)
    detection_run(tenant_id=loaded.tenant.pk, now=now)
    assert alerts(loaded) == [], "closed minutes only: the export is not judged yet"
    detection_run(tenant_id=loaded.tenant.pk, now=now, fresh=True)
    raised = alerts(loaded)
    assert {(a.kind, loaded_name(loaded, a)) for a in raised} == {
        (Kind.SCOPE, "eng-1"),
        (Kind.VOLUME, "eng-1"),  # its rows, a rate: more data can only raise it further
    }
    assert [a.evidence["measure"] for a in raised if a.kind == Kind.VOLUME] == ["rate"], (
        "per-task intensity (a ratio) waits for the closed minutes"
    )
    with tenant_context(loaded.tenant):
        cursor = DetectionCursor.objects.get().judged_until
    assert cursor == export, "open minutes are judged again once closed"
    detection_run(tenant_id=loaded.tenant.pk, now=now + 3 * MINUTE, fresh=True)
    assert len(alerts(loaded)) == len(raised), "the same export judged again raises nothing new"


SEVEN_AGENTS = [
    AgentSpec("sup-1", "support", "office", 26),
    AgentSpec("sup-2", "support", "office", 22),
    AgentSpec("sup-3", "support", "office", 14),
    AgentSpec("sup-4", "support", "office", 18),
    AgentSpec("eng-1", "engineering", "24x7", 8),
    AgentSpec("eng-2", "engineering", "24x7", 10),
    AgentSpec("mkt-1", "marketing", "office", 7),
]


@pytest.mark.slow
def test_three_agents_a_little_busier_together_are_coordination_a_tenant_wide_campaign_is_not(
    scenario: Callable[..., Loaded],
) -> None:
    together = TUESDAY_10 + dt.timedelta(hours=1)
    campaign = WEEK3 + dt.timedelta(days=2, hours=10)
    loaded = scenario(
        [
            # Three of seven agents, each only 2.5x busier: too little to alert on alone.
            *[
                Effect(name, together + k * MINUTE, together + (35 + k) * MINUTE, rate_factor=2.5)
                for k, name in enumerate(("sup-1", "sup-3", "sup-4"))
            ],
            # The next day every agent is 2.5x busier for two hours: a campaign.
            *[
                Effect(a.name, campaign, campaign + dt.timedelta(hours=2), rate_factor=2.5)
                for a in SEVEN_AGENTS
            ],
        ],
        agents=SEVEN_AGENTS,
        noise="coordination",
    )
    loaded.judge(WEEK3 + dt.timedelta(days=1), WEEK3 + dt.timedelta(days=3))
    raised = alerts(loaded)
    coordination = [a for a in raised if a.kind == Kind.COORDINATION]
    assert len(coordination) == 1
    alert = coordination[0]
    assert len({"sup-1", "sup-3", "sup-4"} & set(loaded_name(loaded, alert).split(","))) >= 2
    assert alert.started_at < together + dt.timedelta(hours=1) and alert.ended_at > together
    assert alert.evidence["lift"] >= 1.8 and alert.evidence["usual_tasks"] > 0, (
        "the evidence says how much busier the agents were together than usual"
    )
    campaign_end = campaign + dt.timedelta(hours=2)
    during_campaign = [a for a in raised if a.started_at < campaign_end and a.ended_at > campaign]
    assert during_campaign == [], "a campaign lifting every agent alike raises nothing"
