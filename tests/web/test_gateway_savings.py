"""The gateway page's cache and auto-routing settings and what they saved: the owner
sets them, everyone of the tenant sees the savings of the last 30 days, another
tenant's savings never show."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from controlplane.core.tenancy import tenant_context
from controlplane.gateway.models import Policy
from tests.conftest import signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db


def url(world: World, name: str = "gateway") -> str:
    return reverse(f"web:portal_{name}", args=[world.a.slug])


def gateway_call(fleet: Fleet, **attributes: object) -> bytes:
    return span(
        fleet,
        trace_id=new_trace_id(),
        span_id="0000000000000001",
        start=timezone.now() - dt.timedelta(minutes=5),
        kind="model",
        provider="openai",
        model="gpt-4o-mini",
        attributes=attributes,
    )


def test_owner_turns_on_the_cache_and_sets_the_auto_thresholds(world: World) -> None:
    client = signed_in(world.a_owner)
    form = {"injection": "block", "pii": "flag", "tool_data_classes": ""}
    response = client.post(
        url(world, "gateway_policy"),
        {**form, "cache_ttl_seconds": "600", "auto_simple_max": "0.2", "auto_complex_min": "0.7"},
    )
    assert response.status_code == 302
    with tenant_context(world.a):
        policy = Policy.objects.get()
    assert (policy.cache_ttl_seconds, policy.auto_simple_max, policy.auto_complex_min) == (
        600,
        0.2,
        0.7,
    )
    body = signed_in(world.a_member).get(url(world)).content.decode()
    assert "600 s" in body and "simple below 0.2, complex from 0.7" in body

    crossed = client.post(
        url(world, "gateway_policy"), {**form, "auto_simple_max": "0.8", "auto_complex_min": "0.4"}
    )
    assert crossed.status_code == 200
    assert "must not exceed the complex one" in crossed.content.decode()
    # Left out, the settings stay as they were.
    assert client.post(url(world, "gateway_policy"), form).status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().cache_ttl_seconds == 600


def test_the_page_shows_what_the_cache_and_auto_routing_saved(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    ingest(
        [
            gateway_call(
                fleet_a, **{"acp.gateway.cache": "hit", "acp.gateway.cache_saved": "0.25"}
            ),
            gateway_call(
                fleet_a,
                **{
                    "acp.gateway.auto.tier": "simple",
                    "acp.gateway.auto.frontier_cost": "1.5",
                    "acp.gateway.auto.saved": "1.25",
                },
            ),
            gateway_call(fleet_b, **{"acp.gateway.cache": "hit", "acp.gateway.cache_saved": "7"}),
        ]
    )
    for person in (world.a_owner, world.a_member):
        response = signed_in(person).get(url(world))
        facts = dict(response.context["savings"])
        assert facts["Answered from the cache"] == "1, saving $0.25"
        assert facts["Routed by the auto tier"].endswith("saving $1.25")
        assert facts["Saved in total"] == "$1.50", "the other tenant's $7 is not here"
