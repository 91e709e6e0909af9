"""What counts as a scope item of an agent: a model the gateway answered itself (a
refusal, a cache hit) names the model asked for, not a provider's model it used."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from controlplane.security.queries import scope_history, scope_minutes
from tenants.services import tenant_create
from tests.conftest import SYSTEM
from tests.web.conftest import make_fleet
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


def test_a_request_the_gateway_answered_itself_is_no_model_of_the_agent() -> None:
    tenant = tenant_create(actor=SYSTEM, slug="scoped", name="Scoped")
    fleet = make_fleet(tenant)
    at = timezone.now().replace(second=0, microsecond=0) - dt.timedelta(minutes=5)
    served = {"provider": "openai", "model": "gpt-4o-mini"}
    answered_by_gateway = {"provider": "", "model": "acp/standard"}
    ingest(
        [
            span(fleet, trace_id=new_trace_id(), span_id="1" * 16, start=at, kind="model", **f)
            for f in (served, answered_by_gateway)
        ]
    )

    since, until = at - dt.timedelta(hours=1), at + dt.timedelta(hours=1)
    history = {(r["dimension"], r["item"]) for r in scope_history(tenant.pk, since, until)}
    minutes = {(r["dimension"], r["item"]) for r in scope_minutes(tenant.pk, since, until)}
    assert ("model", "openai/gpt-4o-mini") in history and ("model", "openai/gpt-4o-mini") in minutes
    assert not {item for dimension, item in history | minutes if item.endswith("acp/standard")}
