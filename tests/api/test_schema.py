"""The OpenAPI document and the docs page: complete, valid, and served without a CDN."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import yaml
from django.test import Client
from drf_spectacular.validation import validate_schema

from tests.api.test_access import IDS, OPERATIONS, SCHEMA

pytestmark = pytest.mark.django_db


def test_the_schema_is_valid_openapi_3() -> None:
    validate_schema(SCHEMA)
    assert SCHEMA["openapi"].startswith("3.")
    assert SCHEMA["components"]["securitySchemes"]["ApiToken"]["scheme"] == "bearer"


def test_the_schema_is_served_as_yaml_and_json() -> None:
    as_yaml = Client().get("/api/schema/")
    as_json = Client().get("/api/schema/", {"format": "json"})
    assert as_yaml.status_code == as_json.status_code == 200
    assert (
        yaml.safe_load(as_yaml.content)["paths"].keys()
        == json.loads(as_json.content)["paths"].keys()
    )


@pytest.mark.parametrize(("method", "path", "operation"), OPERATIONS, ids=IDS)
def test_every_operation_is_documented(method: str, path: str, operation: dict[str, Any]) -> None:
    assert operation.get("summary") and operation.get("description"), "summary and description"
    assert operation["security"] == [{"ApiToken": []}]
    responses = operation["responses"]
    success = [code for code in responses if code.startswith("2")]
    assert success, "a success response"
    for code in success:
        for media_type, content in responses[code].get("content", {}).items():
            assert "schema" in content, (code, media_type)
            assert content.get("examples"), f"an example of the {code} {media_type} answer"
    for code in ("400", "401", "403", "404", "429"):
        problem = responses[code]["content"]["application/problem+json"]
        assert problem["schema"] == {"$ref": "#/components/schemas/Problem"}
    if method == "POST":
        assert "422" in responses
        assert any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", [])), (
            "POST takes Idempotency-Key"
        )
    body = operation.get("requestBody")
    if body:
        for media_type, content in body["content"].items():
            assert content.get("examples"), f"an example of the {media_type} request"


def test_creates_link_to_what_can_be_done_with_the_created_object() -> None:
    agents = SCHEMA["paths"]["/api/v1/tenants/{tenant_slug}/agents"]["post"]
    links = agents["responses"]["201"]["links"]
    assert links["tenants_agents_retrieve"]["parameters"] == {
        "tenant_slug": "$request.path.tenant_slug",
        "id": "$response.body#/id",
    }
    assert links["tenants_agents_keys_create"]["parameters"]["agent_id"] == "$response.body#/id"
    tenants = SCHEMA["paths"]["/api/v1/tenants"]["post"]["responses"]["201"]["links"]
    assert tenants["tenants_sites_create"]["parameters"] == {"tenant_slug": "$response.body#/slug"}


def test_idempotency_key_is_documented_on_every_post() -> None:
    posts = [op for method, _, op in OPERATIONS if method == "POST"]
    assert len(posts) >= 12


def test_the_docs_page_loads_swagger_ui_from_our_own_static_files() -> None:
    page = Client().get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources), sources
    assert "script-src 'self'" in page["Content-Security-Policy"]
    assert "<script>" not in html  # no inline script: the CSP would block it
    script = Client().get(next(s for s in sources if "script" in s))
    assert script.status_code == 200 and b"/api/schema/" in script.content
    for asset in ("swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "swagger-ui.css"):
        url = f"/static/api/swagger-ui/{asset}"
        assert url in html
        response = Client().get(url)
        assert response.status_code == 200
        b"".join(response.streaming_content)  # type: ignore[attr-defined]
