"""The catalog file, its loading, and test runs: scheduled through Celery, idempotent,
one evidence record per test and tenant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.utils import timezone

from compliance import runs
from compliance.catalog import CATALOG_PATH, FAMILIES, catalog_load, catalog_parse, catalog_sync
from compliance.checks import registry
from compliance.models import Category, Control, ControlTest, EvidenceRecord, TestRun
from compliance.tasks import run_scheduled
from controlplane.audit.services import Actor
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant
from tests.web.conftest import make_fleet

pytestmark = pytest.mark.django_db


def test_the_catalog_covers_every_family_and_every_registered_test() -> None:
    catalog = catalog_load()
    assert {c.family for c in catalog.controls} == set(FAMILIES)
    assert {c.category for c in catalog.controls} == set(Category.values)
    used = {t.key for c in catalog.controls for t in c.tests}
    assert used == set(registry())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["controls"][0].update(family="CC9"), r"controls\[0\]\.family: one of"),
        (
            lambda c: c["controls"][1]["tests"][0].update(key="cc6.nope"),
            r"controls\[1\]\.tests\[0\]\.key: no test 'cc6.nope'",
        ),
        (lambda c: c["controls"][2].update(owner_email="nobody"), r"owner_email: not an email"),
        (lambda c: c["controls"][3].update(validity_days=0), r"validity_days: give a whole"),
        (lambda c: c["controls"].append(dict(c["controls"][0])), r"'CC6.1-MFA' is used twice"),
    ],
)
def test_a_bad_catalog_is_refused_naming_the_field(change: Any, message: str) -> None:
    document = yaml.safe_load(CATALOG_PATH.read_text())
    change(document)
    with pytest.raises(ValidationError, match=message):
        catalog_parse(yaml.safe_dump(document))


def test_sync_is_idempotent_and_retires_what_the_file_drops() -> None:
    catalog_sync()
    catalog_sync()
    assert Control.objects.count() == len(catalog_load().controls)
    document = yaml.safe_load(CATALOG_PATH.read_text())
    document["controls"] = [c for c in document["controls"] if c["code"] != "P6.1-RESIDENCY"]
    catalog_sync(catalog=catalog_parse(yaml.safe_dump(document)))
    retired = Control.objects.get(code="P6.1-RESIDENCY")
    assert not retired.active and not ControlTest.objects.get(key="p.residency").active


def test_the_hourly_run_covers_every_tenant_and_the_msp_once(
    tenant_a: Tenant, tenant_b: Tenant, django_capture_on_commit_callbacks: Any
) -> None:
    make_fleet(tenant_a)
    catalog_sync()
    with django_capture_on_commit_callbacks(execute=True):
        run_id = run_scheduled.delay().get()
    with all_tenants_context():
        run = TestRun.unscoped.get(pk=run_id)
        records = list(EvidenceRecord.unscoped.filter(test_run=run))
    tests = ControlTest.objects.filter(active=True)
    per_tenant = tests.filter(scope="tenant").count()
    assert run.status == "done" and run.trigger == "schedule"
    assert len(records) == run.evidence_count == 2 * per_tenant + tests.filter(scope="msp").count()
    assert run.failed_count == sum(r.result == "fail" for r in records)
    assert {r.tenant_id for r in records} == {tenant_a.pk, tenant_b.pk, None}

    # Executing it again (a redelivered task) writes nothing more.
    runs.test_run_execute(run_id=run.pk)
    with all_tenants_context():
        assert EvidenceRecord.unscoped.filter(test_run=run).count() == len(records)


def test_an_interrupted_run_is_finished_without_duplicates(tenant_a: Tenant) -> None:
    catalog_sync()
    run = runs.test_run_request(
        actor=Actor.system("t"), trigger="console", tenant=tenant_a, enqueue=False
    )
    first = ControlTest.objects.filter(scope="tenant").order_by("control__code", "key").first()
    assert first is not None
    with tenant_context(tenant_a):
        runs.evidence_collect(test=first, tenant=tenant_a, run=run, now=timezone.now())
    with all_tenants_context():  # the worker died after one test, an hour ago
        TestRun.unscoped.filter(pk=run.pk).update(
            status="running", started_at=timezone.now() - dt.timedelta(hours=1)
        )
    finished = runs.test_run_execute(run_id=run.pk)
    with all_tenants_context():
        keys = list(EvidenceRecord.unscoped.filter(test_run=run).values_list("test_key", flat=True))
    assert finished.status == "done"
    assert sorted(keys) == sorted(set(keys)) and first.key in keys
    assert len(keys) == ControlTest.objects.filter(scope="tenant", active=True).count()
