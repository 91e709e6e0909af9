"""Residency end to end, with a real edge process: the central stores get metadata and
SHA-256 only, a person who may read bodies sees them read from the edge when opening a
trace (audited), is told when that edge cannot be reached, and the roles that may not
read bodies see none."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from controlplane.accounts.models import User
from controlplane.api.tokens import api_token_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context
from controlplane.telemetry.pull import pull_edge_node
from controlplane.telemetry.spans import trace_spans
from tenants.services import tenant_update
from tests.conftest import SYSTEM, signed_in
from tests.telemetry.conftest import Site
from tests.telemetry.test_pipeline import _send_agent_run

pytestmark = pytest.mark.django_db

PROMPT = "hello"  # what _send_agent_run's model span is asked


def _page(client: Client, site: Site, trace_id: str) -> str:
    response = client.get(reverse("web:portal_trace", args=[site.tenant.slug, trace_id]))
    assert response.status_code == 200
    return response.content.decode()


def _reads(action: str = "trace.bodies_read_from_edge") -> int:
    with all_tenants_context():
        return AuditEvent.unscoped.filter(action=action).count()


def test_bodies_stay_at_the_edge_and_are_read_from_it_on_demand(
    site: Site, monkeypatch: pytest.MonkeyPatch, make_customer: Callable[..., User]
) -> None:
    tenant_update(actor=SYSTEM, tenant=site.tenant, body_residency=True)
    env = site.issue_key("support-bot")
    assert pull_edge_node(site.node.pk, worker="test").error == ""  # the edge learns it
    trace_id = _send_agent_run(monkeypatch, env)
    pulled = httpx.get(f"{site.edge.url}/v1/pull", headers=site.node_headers()).text
    assert PROMPT not in pulled, "what the control plane pulls holds no body"

    assert pull_edge_node(site.node.pk, worker="test").error == ""
    chat = next(row for row in trace_spans(site.tenant.pk, trace_id) if row["kind"] == "model")
    assert chat["request_body"] == chat["response_body"] == ""
    assert '"acp.edge.request_body_sha256"' in chat["attributes"]

    member = signed_in(make_customer(site.tenant, "member"))
    page = _page(member, site, trace_id)
    assert PROMPT in page and "read from it now" in page
    assert _reads() == 1, "reading bodies from the edge is audited"

    viewer = signed_in(make_customer(site.tenant, "viewer"))
    page = _page(viewer, site, trace_id)
    assert PROMPT not in page and "withheld" in page
    assert _reads() == 1, "no read for a role without the permission"

    site.edge.stop()
    page = _page(member, site, trace_id)
    assert PROMPT not in page
    assert f"The edge node {site.node.name} that keeps them cannot be reached" in page
    _, token = api_token_create(actor=SYSTEM, user=make_customer(site.tenant, "admin"), name="t")
    answer = Client().get(
        f"/api/v1/tenants/{site.tenant.slug}/traces/{trace_id}",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["edges_unreachable"] == [site.node.name]
    assert all(span["request_body"] == "" for span in body["spans"])


def test_bodies_spooled_before_the_edge_knew_are_not_stored_centrally(
    site: Site, monkeypatch: pytest.MonkeyPatch, make_customer: Callable[..., User]
) -> None:
    env = site.issue_key("support-bot")
    assert pull_edge_node(site.node.pk, worker="test").error == ""
    trace_id = _send_agent_run(monkeypatch, env)  # spooled with its bodies
    tenant_update(actor=SYSTEM, tenant=site.tenant, body_residency=True)

    assert pull_edge_node(site.node.pk, worker="test").error == ""
    chat = next(row for row in trace_spans(site.tenant.pk, trace_id) if row["kind"] == "model")
    assert chat["request_body"] == ""
    assert '"acp.edge.bodies":"dropped"' in chat["attributes"]
    assert '"acp.edge.request_body_sha256"' in chat["attributes"]
    page = _page(signed_in(make_customer(site.tenant, "member")), site, trace_id)
    assert "were not stored anywhere" in page and PROMPT not in page
