"""Legal holds on one agent keep that agent's data (and say what else they kept), a
hold on the whole tenant stops an erasure, and runs and requests whose store failed
finish later without counting anything twice."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from compliance.privacy.models import DataSubjectRequest, RetentionRun
from compliance.privacy.retention import continue_run, cutoff, start_sweep
from compliance.privacy.services import (
    PrivacyConflict,
    dsr_create,
    dsr_erase,
    dsr_retry,
    dsr_verify,
    legal_hold_place,
    legal_hold_release,
    retention_policy_set,
)
from controlplane.agents.services import agent_create
from controlplane.core.tenancy import all_tenants_context
from tenants.models import Tenant
from tests.conftest import SYSTEM
from tests.privacy.conftest import (
    clickhouse_rows,
    direct,
    ledger_rows,
    otlp_span,
    pull,
    send,
    settle,
    spooled,
)
from tests.telemetry.conftest import Site

pytestmark = pytest.mark.django_db


def _shorten(tenant: Tenant) -> None:
    for kind, days in (("spans", 30), ("bodies", 30), ("ledger", 62)):
        retention_policy_set(
            actor=SYSTEM, tenant=tenant, kind=kind, days=days, effective_from=timezone.now().date()
        )


def test_a_hold_on_one_agent_keeps_its_data_and_the_rest_goes(tenant_a: Tenant) -> None:
    held = agent_create(actor=SYSTEM, tenant=tenant_a, name="held")
    free = agent_create(actor=SYSTEM, tenant=tenant_a, name="free")
    old = timezone.now() - dt.timedelta(days=100)
    direct(tenant_a, [old, old + dt.timedelta(minutes=1)], agent_id=str(held.pk))
    direct(tenant_a, [old + dt.timedelta(hours=1)], agent_id=str(free.pk))
    settle()
    before = clickhouse_rows(tenant_a)
    legal_hold_place(actor=SYSTEM, tenant=tenant_a, reason="dispute", agent=held)
    _shorten(tenant_a)

    [started] = start_sweep(trigger="manual", requested_by="test", tenants=[tenant_a])
    run = continue_run(started.pk)

    assert run.state == RetentionRun.State.COMPLETED, run.error
    assert ledger_rows(tenant_a) == 2
    after = clickhouse_rows(tenant_a)
    assert after["spans"] == 2 and after["agents_hour"] == before["agents_hour"] - 1
    # Rollups that do not tell agents apart keep everything while an agent is held.
    assert after["tenants_hour"] == before["tenants_hour"]
    assert "tenants_hour: kept, its rows do not tell agents apart" in run.kept
    assert run.holds[0]["agent_id"] == str(held.pk)


def test_a_run_whose_edge_was_down_finishes_its_other_stores_and_a_later_run_the_edge(
    configured: Site,
) -> None:
    site, a = configured, configured.tenant
    old = timezone.now() - dt.timedelta(days=100)
    send(site, [otlp_span(1, old), otlp_span(2, old)])
    pull(site)
    send(site, [otlp_span(3, old, trace=2)])
    _shorten(a)
    site.edge.stop()

    [started] = start_sweep(trigger="manual", requested_by="test", tenants=[a])
    run = continue_run(started.pk)

    assert run.state == RetentionRun.State.PARTIAL
    assert run.steps[f"edge:{site.node.pk}"].startswith("failed: EdgeUnavailable")
    assert ledger_rows(a, cutoff(timezone.now(), 62)) == 0
    assert continue_run(run.pk).removed == run.removed  # a finished run does nothing more

    site.edge.start()
    [later] = start_sweep(trigger="manual", requested_by="test", tenants=[a])
    later = continue_run(later.pk)
    assert later.state == RetentionRun.State.COMPLETED
    assert [i["rows"] for i in later.removed if i["store"] == "edge" and i["kind"] == "spans"] == [
        1
    ]
    assert spooled(site) == []


def _request(tenant: Tenant, capture: Callable[..., Any]) -> DataSubjectRequest:
    with capture(execute=True):
        dsr = dsr_create(
            actor=SYSTEM, tenant=tenant, identifiers=[{"kind": "customer_id", "value": "CUST-9"}]
        )
    with all_tenants_context():
        return DataSubjectRequest.unscoped.get(pk=dsr.pk)


def test_a_hold_on_the_whole_tenant_stops_an_erasure_until_it_is_released(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    direct(tenant_a, [timezone.now() - dt.timedelta(hours=1)], request_body="for CUST-9")
    dsr = _request(tenant_a, django_capture_on_commit_callbacks)
    assert dsr.found["clickhouse"]["spans"] == 1
    dsr_verify(actor=SYSTEM, dsr=dsr, note="checked")
    hold = legal_hold_place(actor=SYSTEM, tenant=tenant_a, reason="regulator", reference="R-1")

    with pytest.raises(PrivacyConflict, match="R-1"):
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="ERASE")

    legal_hold_release(actor=SYSTEM, hold=hold)
    with django_capture_on_commit_callbacks(execute=True):
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="ERASE")
    with all_tenants_context():
        dsr.refresh_from_db()
    assert dsr.state == DataSubjectRequest.State.ERASED


def test_a_request_whose_edge_was_down_fails_and_a_retry_finishes_it(
    configured: Site, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    site = configured
    send(site, [otlp_span(1, timezone.now(), prompt="about CUST-9")])
    site.edge.stop()
    dsr = _request(site.tenant, django_capture_on_commit_callbacks)
    assert dsr.state == DataSubjectRequest.State.FAILED
    assert dsr.error.startswith(f"find:edge:{site.node.pk}: EdgeUnavailable")
    assert dsr.steps["find:postgres"] == dsr.steps["find:clickhouse"] == "done"

    site.edge.start()
    with django_capture_on_commit_callbacks(execute=True):
        dsr_retry(actor=SYSTEM, dsr=dsr)
    with all_tenants_context():
        dsr.refresh_from_db()
    assert dsr.state == DataSubjectRequest.State.FOUND
    assert dsr.found["edge"][site.node.name]["spool_records"] == 1


def test_a_run_another_worker_is_at_is_left_to_it(tenant_a: Tenant) -> None:
    """``privacy.resume`` may queue a slow run again: the second task does nothing while
    the first holds the run, so nothing is removed or counted twice."""
    import psycopg
    from django.db import connection

    direct(tenant_a, [timezone.now() - dt.timedelta(days=900)])
    [started] = start_sweep(trigger="manual", requested_by="test", tenants=[tenant_a])
    params = connection.get_connection_params()
    with psycopg.connect(**params, autocommit=True) as other:
        key = f"privacy:retention-run:{started.pk}"
        other.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        busy = continue_run(started.pk)
        assert busy.state == RetentionRun.State.RUNNING and busy.steps == {}
        other.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
    done = continue_run(started.pk)
    assert done.state == RetentionRun.State.COMPLETED
    assert sum(i["rows"] for i in done.removed if i["target"] == "spans") == 1


def test_a_record_that_lands_during_the_erasure_is_erased_in_a_second_pass(
    tenant_a: Tenant, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    from compliance.privacy.dsr import advance

    when = timezone.now() - dt.timedelta(hours=1)
    direct(tenant_a, [when], request_body="for CUST-9")
    dsr = _request(tenant_a, django_capture_on_commit_callbacks)
    dsr_verify(actor=SYSTEM, dsr=dsr, note="checked")
    with django_capture_on_commit_callbacks(execute=False):  # the steps, one by one below
        dsr_erase(actor=SYSTEM, dsr=dsr, confirm="ERASE")
    while advance(dsr.pk):
        with all_tenants_context():
            dsr.refresh_from_db()
        if dsr.steps.get("erase:audit") == "done" and not dsr.erase_attempts:
            # A pull lands a record about her after the stores were erased.
            late = when + dt.timedelta(minutes=5)
            direct(tenant_a, [late], first_trace=2000, request_body="CUST-9 again")

    with all_tenants_context():
        dsr.refresh_from_db()
    assert dsr.state == DataSubjectRequest.State.ERASED
    assert dsr.erase_attempts == 1
    assert dsr.erased["clickhouse"]["spans"] == 2  # one in each pass
