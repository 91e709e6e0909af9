"""The scorer replays the edge fast path too (controlplane/security/edge_replay.py): the
watch section learned in event time, every span through the edge's checker, findings
raised at their pull and deduplicated with the detectors' alerts as live."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable

import pytest

from controlplane.agents.models import EdgeNode
from controlplane.agents.services import agent_create
from controlplane.core.tenancy import tenant_context
from controlplane.security import scoring
from controlplane.security.alerts import alert_transition
from controlplane.security.edge_findings import edge_findings_record
from controlplane.security.edge_replay import arrival
from controlplane.security.models import Alert, EdgeProfile, Kind
from controlplane.security.profiles import working_hours
from controlplane.security.scenario_spans import spans
from controlplane.security.scenarios import Effect, Label, first_data
from tenants.services import tenant_create
from tests.conftest import SYSTEM
from tests.security.conftest import MINUTE, START, WEEK3, Loaded

TUESDAY_10 = WEEK3 + dt.timedelta(days=1, hours=10)
UPLOADS = TUESDAY_10 + dt.timedelta(minutes=7)
DUMP = TUESDAY_10 + dt.timedelta(hours=3)
NIGHT = WEEK3 + dt.timedelta(days=2, hours=3)  # Wednesday 03:00
REINDEX = WEEK3 + dt.timedelta(days=1, hours=22)  # Tuesday 22:00, announced
NIGHT_EFFECT = Effect("sup-3", NIGHT, NIGHT + 40 * MINUTE, extra_rate=60)
UPLOAD_EFFECT = Effect("eng-1", UPLOADS, UPLOADS + 20 * MINUTE, tool="files.upload", tool_calls=3)
DUMP_EFFECT = Effect(
    "sup-2", DUMP, DUMP + 2 * MINUTE, tool="tickets.search", tool_calls=2, tool_rows=9000
)


@pytest.mark.slow
def test_the_edge_raises_an_upload_and_a_row_dump_at_their_first_span_and_the_detectors_extend(
    scenario: Callable[..., Loaded],
) -> None:
    loaded = scenario(
        [
            UPLOAD_EFFECT,
            DUMP_EFFECT,
            NIGHT_EFFECT,
            Effect("eng-1", REINDEX, REINDEX + 60 * MINUTE, extra_rate=80),
        ],
        calendar=[
            {
                "title": "Wiki reindex",
                "starts_at": (REINDEX - 15 * MINUTE).isoformat(),
                "ends_at": (REINDEX + 75 * MINUTE).isoformat(),
                "agents": ["eng-1"],
                "reason": "maintenance",
            }
        ],
        noise="edge-replay",
    )
    loaded.judge(WEEK3 + dt.timedelta(days=1), WEEK3 + dt.timedelta(days=3))
    with tenant_context(loaded.tenant):
        raised = list(Alert.objects.order_by("started_at"))
        profiles = EdgeProfile.objects.count()
    assert profiles == 4, "every agent past its learning period has a learned profile"
    rows = list(spans(loaded.plan, loaded.plan.tenants[0]))
    upload = min(arrival(r) for r in rows if r.tool == "files.upload" and r.agent == "eng-1")
    dump = min(arrival(r) for r in rows if r.attributes.get("db.response.returned_rows") == 9000)

    eng = loaded.agents["eng-1"]
    scope = [a for a in raised if a.kind == Kind.SCOPE and eng in a.agent_ids]
    assert len(scope) == 1, "the detectors' finding on the same items extends the edge's alert"
    alert = scope[0]
    assert alert.evidence["source"] == "edge"
    assert dt.datetime.fromisoformat(alert.evidence["detected_at"]) == upload
    assert upload < alert.raised_at <= upload + dt.timedelta(seconds=5), "at the next pull"
    items = {(i["dimension"], i["item"]) for i in alert.evidence["items"]}
    assert {("tool", "files.upload"), ("host", "transfer.example")} <= items

    sup = loaded.agents["sup-2"]
    volume = [a for a in raised if a.kind == Kind.VOLUME and sup in a.agent_ids]
    assert volume and volume[0].evidence["source"] == "edge"
    assert volume[0].evidence["metric"] == "returned_rows"
    assert volume[0].evidence["observed"] > volume[0].evidence["ceiling"]
    assert dump < volume[0].raised_at <= dump + dt.timedelta(seconds=5)

    night = min(arrival(r) for r in rows if r.agent == "sup-3" and r.start >= NIGHT)
    temporal = [a for a in raised if a.kind == Kind.TEMPORAL]
    assert len(temporal) == 1, "the detectors' temporal finding extends the edge's"
    assert temporal[0].agent_ids == [loaded.agents["sup-3"]]
    assert temporal[0].evidence["source"] == "edge"
    assert temporal[0].evidence["hour_of_week"] == "Wed 03:00"
    assert night < temporal[0].raised_at <= night + dt.timedelta(seconds=5)

    assert not [
        a for a in raised if a.started_at >= REINDEX - 15 * MINUTE and eng in a.agent_ids
    ], "announced maintenance at night is quiet at the edge as for the detectors"
    quiet = {a for alert in raised for a in alert.agent_ids} - {eng, sup, loaded.agents["sup-3"]}
    assert not quiet, "agents doing their usual work raise nothing at the edge either"

    loaded.plan.labels = [
        Label(
            loaded.tenant.slug,
            kind,
            "blatant",
            [effect.agent],
            effect.start,
            effect.end,
            effect.tool,
            first_data=first_data(effect),
        )
        for kind, effect in (
            ("scope", UPLOAD_EFFECT),
            ("volume", DUMP_EFFECT),
            ("temporal", NIGHT_EFFECT),
        )
    ]
    score = scoring.score(
        loaded.plan,
        scoring.Loaded({loaded.tenant.slug: loaded.tenant}, {loaded.tenant.slug: loaded.agents}),
        judge_from=WEEK3 + dt.timedelta(days=1),
    )
    assert score.layers == {"scope": ["edge"], "volume": ["edge"], "temporal": ["edge"]}
    assert score.recall() == 1.0 and not score.false_alerts
    assert max(v for values in score.delays.values() for v in values) < 1.0, (
        "within a minute of the first upload, the first dump, the first task at night"
    )
    assert score.delays_from_start[0] > 5.0, "the first upload is in the effect's 7th minute"


def test_working_hours_are_the_learned_ones_and_their_neighbours_only_for_regular_agents() -> None:
    office, month_end = uuid.uuid4(), uuid.uuid4()
    rows = []
    for week in range(5):
        monday = START + dt.timedelta(weeks=week)
        for hour in range(9, 17):
            rows.append({"agent_id": office, "hour": monday + dt.timedelta(hours=hour), "tasks": 5})
        # A month-end agent works a different weekday every month.
        day = monday + dt.timedelta(days=week % 5, hours=10)
        rows.append({"agent_id": month_end, "hour": day, "tasks": 40 if week in (1, 4) else 0})
    rows.append({"agent_id": office, "hour": START + dt.timedelta(days=5, hours=3), "tasks": 1})

    hours = working_hours(rows)
    assert hours[office] == frozenset(range(8, 18)), "Monday 09-16 and the hour either side"
    assert hours[month_end] is None, "no hour worked in two weeks: not checked"


def _raw(
    agent_id: uuid.UUID, kind: str, dimension: str, item: str, at: dt.datetime
) -> dict[str, object]:
    return {
        "agent_id": str(agent_id),
        "kind": kind,
        "dimension": dimension,
        "item": item,
        "action": "flagged",
        "source": "span",
        "reason": "",
        "first_seen": at.isoformat(),
        "last_seen": at.isoformat(),
        "count": 1,
    }


@pytest.mark.django_db
def test_what_an_open_alert_stands_for_is_not_raised_again_until_it_is_closed() -> None:
    tenant = tenant_create(actor=SYSTEM, slug="open-alerts", name="Open alerts")
    agent = agent_create(actor=SYSTEM, tenant=tenant, name="night-owl", role="support")
    node = EdgeNode(tenant_id=tenant.pk, site_id=uuid.uuid4(), name="edge")
    day = dt.timedelta(days=1)

    def record(at: dt.datetime) -> list[Alert]:
        return edge_findings_record(
            node=node,
            raw_findings=[
                _raw(agent.pk, "scope", "host", "transfer.example", at),
                _raw(agent.pk, "temporal", "hour", "Wed 03:00", at),
            ],
            now=at,
        )

    first = record(WEEK3)
    assert {a.kind for a in first} == {Kind.SCOPE, Kind.TEMPORAL}
    assert record(WEEK3 + day) == [], "the open alerts stand for a use a day"
    with tenant_context(tenant):
        for alert in first:
            alert_transition(actor=SYSTEM, alert=alert, state="resolved")
    assert {a.kind for a in record(WEEK3 + 2 * day)} == {Kind.SCOPE, Kind.TEMPORAL}
