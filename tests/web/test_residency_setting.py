"""Residency is the MSP's setting: staff turn it on in the console or the API (audited,
and the tenant's edges get it in their next bundle); the customer sees it, and cannot
change it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.agents.models import Site
from controlplane.api.tokens import api_token_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.bundle import publish
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World

pytestmark = pytest.mark.django_db


def _residency(world: World, fleet: Fleet) -> list[dict[str, object]]:
    published = publish(site_id=fleet.site.pk, tenant_id=world.a.pk, actor=SYSTEM)
    section: list[dict[str, object]] = published.content["residency"]
    return section


def test_an_operator_turns_residency_on_and_the_edges_get_it_in_their_bundle(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    assert _residency(world, fleet_a)[0]["bodies_at_edge"] is False
    client = signed_in(make_staff("operator"))
    response = client.post(
        reverse("web:console_tenant_settings", args=[world.a.slug]),
        {"name": world.a.name, "status": "active", "retention_days": "60", "body_residency": "on"},
    )
    assert response.status_code == 302
    world.a.refresh_from_db()
    assert world.a.body_residency
    with tenant_context(world.a):
        assert Site.objects.get(pk=fleet_a.site.pk).config_version > fleet_a.site.config_version
    assert _residency(world, fleet_a) == [
        {"tenant_id": str(world.a.pk), "bodies_at_edge": True, "retention_days": 60}
    ]
    with all_tenants_context():
        event = AuditEvent.unscoped.filter(action="tenant.updated", tenant=world.a).latest("seq")
    assert event.after is not None and event.after["body_residency"] is True

    page = signed_in(world.a_owner).get(reverse("web:portal_settings", args=[world.a.slug]))
    assert b"They stay at your edge nodes." in page.content


def test_only_staff_change_residency_through_the_api(
    world: World, make_staff: Callable[..., User]
) -> None:
    url = f"/api/v1/tenants/{world.a.slug}"
    _, owner_token = api_token_create(actor=SYSTEM, user=world.a_owner, name="owner")
    refused = Client().patch(
        url,
        {"body_residency": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {owner_token}",
    )
    assert refused.status_code == 403
    assert "body_residency" in refused.json()["detail"]

    _, staff_token = api_token_create(actor=SYSTEM, user=make_staff("admin"), name="staff")
    done = Client().patch(
        url,
        {"body_residency": True},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {staff_token}",
    )
    assert done.status_code == 200 and done.json()["body_residency"] is True
