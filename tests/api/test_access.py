"""Every operation of the API, generated from its OpenAPI schema, against tenant B's
objects with tenant A's tokens of every role: never a 2xx. A new endpoint is covered
without being added here; a new kind of path parameter fails until it is taught below.

Also: a read-only token writes nothing, and an expired, revoked or missing token is
refused, on every operation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from controlplane.api.models import ApiToken
from tests.api.conftest import TENANT_ROLES, Api, World, issue_token
from tests.api.telemetry_data import Call, record_calls

pytestmark = pytest.mark.django_db

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
READ_ROLES = {"member", "billing", "viewer"}
# The object a path's {id} names, by the path segment in front of it.
OBJECT_OF_SEGMENT = {
    "departments": "department",
    "memberships": "membership",
    "invitations": "invitation",
    "sites": "site",
    "edge-nodes": "edge_node",
    "devices": "device",
    "agents": "agent",
    "keys": "agent_key",
    "collector-keys": "collector_key",
    "tokens": "token",
    "model-prices": "model_price",
    "providers": "provider",
    "routes": "route",
    "role-defaults": "role_default",
    "budgets": "budget",
    "config-changes": "config_change",
    "plans": "plan",
    "invoices": "invoice",
    "credit-notes": "credit_note",
    "alerts": "alert",
    "incidents": "incident",
    "maintenance-windows": "maintenance_window",
    "quarantines": "quarantine",
    "test-runs": "test_run",
    "evidence": "evidence",
    "exceptions": "exception",
    "legal-holds": "legal_hold",
    "retention-runs": "retention_run",
    "data-subject-requests": "data_subject_request",
    "packages": "evidence_package",
    "auditors": "auditor",
}
# Only MSP staff write these (billing): every customer role is refused (403).
STAFF_ONLY_WRITES = ("/plans", "/invoices", "/credit-notes", "/approve", "/reject")
# MSP-wide and staff only, every tenant's usage summed: refused to customers and to
# tokens limited to one tenant.
STAFF_ONLY_PATHS = {
    "/api/v1/provider-reconciliation",
    "/api/v1/auditors",
    "/api/v1/auditors/{id}",
    "/api/v1/compliance/evidence",
    "/api/v1/compliance/evidence/{id}",
    "/api/v1/compliance/evidence/{id}/download",
}
# The tenant's owner's only (besides staff): every other customer role is refused (403).
OWNER_ONLY = ("/compliance/packages",)
# MSP-wide, not any tenant's: every authenticated token reads them.
GLOBAL_OBJECTS = {"/api/v1/model-prices/{id}"}


def _schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


SCHEMA = _schema()
OPERATIONS = [
    (method.upper(), path, operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
    if method in ("get", "post", "put", "patch", "delete")
]
IDS = [f"{method} {path}" for method, path, _ in OPERATIONS]


def fill(path: str, *, slug: str, objects: dict[str, Any], trace_id: str) -> str:
    parts = path.split("/")
    out = []
    for index, part in enumerate(parts):
        if part == "{tenant_slug}":
            out.append(slug)
        elif part == "{agent_id}":
            out.append(str(objects["agent"]))
        elif part == "{site_id}":
            out.append(str(objects["site"]))
        elif part == "{trace_id}":
            out.append(trace_id)
        elif part == "{code}":  # a control of the catalog: the same in every tenant
            out.append("CC6.1-MFA")
        elif part == "{id}":
            out.append(str(objects[OBJECT_OF_SEGMENT[parts[index - 1]]]))
        elif part.startswith("{"):
            raise AssertionError(f"teach this test the path parameter {part} of {path}")
        else:
            out.append(part)
    return "/".join(out)


def body_referencing(world: World) -> dict[str, Any]:
    """A body for any write, naming tenant B's objects wherever a field takes one."""
    b = world.b_objects
    return {
        "name": "cross-tenant",
        "code": "X",
        "slug": "cross-tenant",
        "tenant": world.b.slug,
        "site": str(b["site"]),
        "device": str(b["device"]),
        "department": str(b["department"]),
        "owner": str(world.users["b:owner"].pk),
        "role": "viewer",
        "email": "cross@globex.example",
        "pull_url": "https://edge.globex.example",
        "agent_url": "https://edge.globex.example",
        "mfa_required": True,
    }


def call(api: Api, method: str, url: str, body: dict[str, Any] | None) -> Any:
    return api.request(method, url, body if method in ("POST", "PATCH", "PUT") else None)


def references_objects(operation: dict[str, Any]) -> bool:
    """Whether the operation's request body takes ids of other objects."""
    content = operation.get("requestBody", {}).get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    if not ref:
        return False
    component = SCHEMA["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return any(p.get("format") == "uuid" for p in component.get("properties", {}).values())


def test_the_schema_lists_every_resource() -> None:
    paths = {path for _, path, _ in OPERATIONS}
    for segment in OBJECT_OF_SEGMENT:
        assert any(f"/{segment}/{{id}}" in path for path in paths), segment
    assert len(OPERATIONS) >= 40


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_tenant_a_tokens_never_reach_tenant_b(
    world: World, method: str, path: str, operation: dict[str, Any]
) -> None:
    if "/traces" in path:  # B has a trace with this id; A must not reach it
        record_calls(
            tenant_id=world.b.pk,
            agent_id=world.b_objects["agent"],
            department_id=None,
            calls=[Call(timezone.now() - dt.timedelta(hours=1), world.trace_id)],
        )
    body = body_referencing(world)
    tokens = {role: world.api(f"a:{role}") for role in TENANT_ROLES}
    tokens["staff limited to A"] = world.api("staff:admin", tenant=world.a)
    b_leaks = [
        world.b.slug,
        *(str(v) for k, v in world.b_objects.items() if k != "model_price"),
    ]

    for who, api in tokens.items():
        role = who if who in TENANT_ROLES else "admin"
        owner_only = who in TENANT_ROLES and role != "owner" and any(p in path for p in OWNER_ONLY)
        writes_denied = method in WRITE_METHODS and (
            role in READ_ROLES
            or owner_only
            or (who in TENANT_ROLES and any(part in path for part in STAFF_ONLY_WRITES))
        )
        # Not found, or (for a role that may see the tenant but lacks the right) forbidden.
        hidden = {403, 404} if role in READ_ROLES or owner_only else {404}

        if "{tenant_slug}" in path:
            # B's own URL: B is invisible, whatever the object or the method.
            url = fill(path, slug=world.b.slug, objects=world.b_objects, trace_id=world.trace_id)
            response = call(api, method, url, body)
            assert response.status_code == 404, (who, url, response.content)
            assert response["Content-Type"] == "application/problem+json"

            # A's URL naming B's object (in the path or in the body).
            names_b_object = any(
                p in path for p in ("{id}", "{agent_id}", "{site_id}", "{trace_id}")
            )
            if names_b_object or (method == "POST" and references_objects(operation)):
                url = fill(
                    path, slug=world.a.slug, objects=world.b_objects, trace_id=world.trace_id
                )
                response = call(api, method, url, body)
                if writes_denied:
                    expected = {403}
                elif names_b_object:
                    expected = hidden
                else:
                    expected = {400}
                assert response.status_code in expected, (who, url, response.content)
            continue

        url = fill(path, slug=world.b.slug, objects=world.b_objects, trace_id=world.trace_id)
        response = call(api, method, url, body)
        if path in STAFF_ONLY_PATHS:
            assert response.status_code == 403, (who, url, response.content)
            continue
        if path in GLOBAL_OBJECTS and method == "GET":
            assert response.status_code == 200
            continue
        if "{id}" in path:
            assert response.status_code in hidden, (who, url, response.content)
            continue
        # Collections outside any tenant: nothing of B in what they answer, and nothing
        # that names B is created.
        if method == "POST":
            assert not 200 <= response.status_code < 300, (who, url, response.content)
        else:
            assert response.status_code == 200, (who, url, response.content)
            text = response.content.decode()
            assert not any(leak in text for leak in b_leaks), (who, url, text)


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [op for op in OPERATIONS if op[0] in WRITE_METHODS],
    ids=[i for i, op in zip(IDS, OPERATIONS, strict=True) if op[0] in WRITE_METHODS],
)
def test_read_only_tokens_cannot_write(
    world: World, method: str, path: str, operation: dict[str, Any]
) -> None:
    body = body_referencing(world)
    for who in ("staff:admin", "a:owner"):
        api = world.api(who, read_only=True)
        url = fill(path, slug=world.a.slug, objects=world.a_objects, trace_id=world.trace_id)
        before = ApiToken.objects.count()
        response = call(api, method, url, body)
        assert response.status_code == 403, (who, url, response.content)
        assert response.json()["detail"] == "This API token is read-only."
        assert ApiToken.objects.count() == before


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_expired_revoked_and_missing_tokens_are_refused(
    world: World, method: str, path: str, operation: dict[str, Any]
) -> None:
    owner = world.users["a:owner"]
    expired = issue_token(owner)
    revoked = issue_token(owner)
    prefix = {token: token.split("_")[1] for token in (expired, revoked)}
    ApiToken.objects.filter(prefix=prefix[expired]).update(
        expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    ApiToken.objects.filter(prefix=prefix[revoked]).update(revoked_at=timezone.now())
    url = fill(path, slug=world.a.slug, objects=world.a_objects, trace_id=world.trace_id)
    for token in (expired, revoked, None, f"acp_{uuid.uuid4().hex[:12]}_forged"):
        response = call(Api(token), method, url, {"name": "x"})
        assert response.status_code == 401, (token, url, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert response["WWW-Authenticate"] == "Bearer"
