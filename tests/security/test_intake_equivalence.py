"""Done when: "The same data replayed live through an edge and imported from files gives
the same alerts" — and the same again for a tenant whose bodies stay at its edge
(residency), since the detectors read metadata only."""

from __future__ import annotations

import datetime as dt
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from controlplane.core.tenancy import tenant_context
from controlplane.security import scoring
from controlplane.security.models import Alert, Kind
from controlplane.security.scenario_otlp import otlp_requests
from controlplane.security.scenario_spans import spans
from controlplane.security.scenarios import Effect
from tenants.services import tenant_create, tenant_update
from tests.conftest import SYSTEM
from tests.security.conftest import MINUTE, WEEK3, mini_plan
from tests.security.intake import live_site, register_agents, write_exporter_files

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

TUESDAY_10 = WEEK3 + dt.timedelta(days=1, hours=10)
JUDGED = (WEEK3 + dt.timedelta(days=1), WEEK3 + dt.timedelta(days=3))


def _alerts(tenant_id: object, names: dict[object, str]) -> set[tuple[object, ...]]:
    with tenant_context(tenant_id):  # type: ignore[arg-type]
        return {
            (
                alert.kind,
                alert.severity,
                tuple(sorted(names[agent_id] for agent_id in alert.agent_ids)),
                alert.started_at,
                alert.ended_at,
            )
            for alert in Alert.objects.all()
        }


def test_live_through_an_edge_with_or_without_residency_and_imported_files_raise_the_same_alerts(
    tmp_path: Path,
) -> None:
    plan = mini_plan(
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
        ]
    )
    messages = list(otlp_requests(spans(plan, plan.tenants[0])))
    live = tenant_create(actor=SYSTEM, slug="live", name="Live")
    resident = tenant_create(actor=SYSTEM, slug="resident", name="Resident")
    tenant_update(actor=SYSTEM, tenant=resident, body_residency=True)
    imported = tenant_create(actor=SYSTEM, slug="imported", name="Imported")

    ids = {}
    for tenant in (live, resident):
        site = live_site(tenant, tmp_path / tenant.slug)
        try:
            ids[tenant.slug] = register_agents(plan, tenant, site.site)
            site.pull_all()  # the edge learns the agents and the residency
            for message in messages:
                assert site.send(message).partial_success.rejected_spans == 0
            assert site.pull_all() == sum(1 for _ in spans(plan, plan.tenants[0]))
        finally:
            site.edge.stop()
    ids[imported.slug] = register_agents(plan, imported)
    files = write_exporter_files(messages, tmp_path)
    call_command("import_otlp", "--tenant", imported.slug, *map(str, files), stdout=StringIO())

    raised = {}
    for tenant in (live, resident, imported):
        loaded = scoring.Loaded({tenant.slug: tenant}, {tenant.slug: ids[tenant.slug]})
        scoring.replay(
            plan, loaded, judge_from=JUDGED[0], until=JUDGED[1], step=dt.timedelta(hours=6)
        )
        names = {agent_id: name for name, agent_id in ids[tenant.slug].items()}
        raised[tenant.slug] = _alerts(tenant.pk, names)

    kinds = {(kind, agents) for kind, _, agents, _, _ in raised["live"]}
    assert (Kind.VOLUME, ("sup-1",)) in kinds, "the flood is raised"
    assert (Kind.SCOPE, ("eng-1",)) in kinds, "the export is raised"
    assert raised["imported"] == raised["live"], "imported files: the same alerts as live"
    assert raised["resident"] == raised["live"], "bodies at the edge: the same alerts"
