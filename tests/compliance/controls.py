"""Running one control test the way a test run does, for the compliance tests."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from compliance.catalog import catalog_sync
from compliance.models import ControlTest, EvidenceRecord
from compliance.runs import evidence_collect
from controlplane.core.tenancy import all_tenants_context, tenant_context
from tenants.models import Tenant


def collect(
    key: str, tenant: Tenant | None = None, *, now: dt.datetime | None = None
) -> EvidenceRecord:
    """The evidence of the test ``key`` for ``tenant`` (None: the MSP), written now."""
    catalog_sync()
    test = ControlTest.objects.select_related("control").filter(key=key).first()
    assert test is not None, key
    with tenant_context(tenant) if tenant else all_tenants_context():
        return evidence_collect(test=test, tenant=tenant, run=None, now=now or timezone.now())


def entity_keys(record: EvidenceRecord) -> set[str]:
    return {entity["key"] for entity in record.failing_entities}
