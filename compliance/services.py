"""Changes made by the compliance app: saving a dated, hashed data-flow snapshot."""

from __future__ import annotations

import datetime as dt
import json

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from compliance.dataflow import canonical_json, content_hash, render_svg
from compliance.models import DataFlowSnapshot
from compliance.selectors import dataflow_graph
from controlplane.audit.services import Actor, audit_record, snapshot
from controlplane.core.tenancy import tenant_context
from tenants.models import Tenant

MAX_RANGE = dt.timedelta(days=400)


def dataflow_snapshot_create(
    *, tenant: Tenant, since: dt.datetime, until: dt.datetime, actor: Actor
) -> tuple[DataFlowSnapshot, bool]:
    """Save the tenant's diagram of ``[since, until)`` as drawn now; ``(snapshot,
    created)``.

    The same SVG (same hash) is stored once: saving an unchanged diagram again returns
    the existing snapshot with ``created=False`` and records nothing, so the list holds
    one dated entry per distinct version. A new snapshot is audited in its transaction.
    """
    if since.tzinfo is None or until.tzinfo is None:
        raise ValidationError("since and until must be aware datetimes")
    if not since < until:
        raise ValidationError("The range must start before it ends.")
    if until - since > MAX_RANGE:
        raise ValidationError(f"The range may span at most {MAX_RANGE.days} days.")
    graph = dataflow_graph(tenant=tenant, since=since, until=until)
    svg = render_svg(graph)
    digest = content_hash(svg)
    with tenant_context(tenant):
        existing = DataFlowSnapshot.objects.filter(content_hash=digest).first()
        if existing is not None:
            return existing, False
        saved = DataFlowSnapshot(
            tenant=tenant,
            since=graph.since,
            until=graph.until,
            created_by_id=actor.user_id,
            created_by_label=actor.label[:254],
            content_hash=digest,
            graph=json.loads(canonical_json(graph)),
            svg=svg,
        )
        try:
            with transaction.atomic():
                saved.save(force_insert=True)
        except IntegrityError:  # saved by a concurrent request a moment ago
            return DataFlowSnapshot.objects.get(content_hash=digest), False
        audit_record(
            actor=actor,
            action="dataflow.snapshot_created",
            target=saved,
            tenant_id=tenant.pk,
            after=snapshot(saved),
        )
    return saved, True
