"""OpenAPI details drf-spectacular cannot infer: the bearer scheme, the problem responses
every operation can give, and links from each create to what can be done next with the
created object (used by stateful tests and by clients that follow links)."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension

from controlplane.api.problems import PROBLEM_KINDS, PROBLEM_MEDIA_TYPE

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error, as RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "description": "A URN naming the kind of problem."},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {
                        "type": "string",
                        "nullable": True,
                        "description": "The field at fault (dotted when nested); null when "
                        "the error is about the request as a whole.",
                    },
                    "message": {"type": "string"},
                },
                "required": ["field", "message"],
            },
        },
    },
    "required": ["type", "title", "status", "detail", "errors"],
}

_PROBLEMS: dict[str, tuple[str, str, str]] = {
    # status: (description, example type, example detail)
    "400": (
        "The request is not valid; `errors` names each field at fault.",
        "validation-error",
        "name: This field is required.",
    ),
    "401": (
        "No token, or an invalid, expired or revoked one.",
        "not-authenticated",
        "Invalid, expired or revoked API token.",
    ),
    "403": (
        "The token's role or scope does not allow this (a read-only token writes nothing).",
        "permission-denied",
        "This API token is read-only.",
    ),
    "404": (
        "No such object, or one this token may not see (another tenant's, say).",
        "not-found",
        "Not found.",
    ),
    "406": (
        "The Accept header asks for a media type this operation cannot produce.",
        "not-acceptable",
        "Could not satisfy the request Accept header.",
    ),
    "409": (
        "The request conflicts with the object's state.",
        "conflict",
        "This device is already revoked.",
    ),
    "415": (
        "The body is not JSON.",
        "unsupported-media-type",
        'Unsupported media type "text/plain" in request.',
    ),
    "422": (
        "The Idempotency-Key was used before with a different request.",
        "idempotency-key-reused",
        "This Idempotency-Key was used with a different request.",
    ),
    "429": (
        "Over the token's rate limit; retry after `Retry-After` seconds.",
        "throttled",
        "Request was throttled. Expected available in 12 seconds.",
    ),
    "503": (
        "The trace store is not reachable; retry later.",
        "service-unavailable",
        "The trace store is not reachable.",
    ),
}
_ALWAYS = ("400", "401", "403", "404", "406", "429")
_WRITES = ("409", "415")


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "controlplane.api.authentication.ApiTokenAuthentication"
    name = "ApiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "acp_<prefix>_<secret>",
            "description": "A personal API token from the console, the portal or "
            "`manage.py create_api_token`. It acts with its user's role.",
        }


def _problem_response(status: str) -> dict[str, Any]:
    description, kind, detail = _PROBLEMS[status]
    response: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_MEDIA_TYPE: {
                "schema": PROBLEM_REF,
                "examples": {
                    kind: {
                        "value": {
                            "type": f"urn:acp:problem:{kind}",
                            "title": PROBLEM_KINDS[int(status)][1],
                            "status": int(status),
                            "detail": detail,
                            "errors": [{"field": "name", "message": detail.split(": ", 1)[-1]}]
                            if status == "400"
                            else [],
                        }
                    }
                },
            }
        },
    }
    if status == "429":
        response["headers"] = {
            "Retry-After": {
                "schema": {"type": "integer"},
                "description": "Seconds until the limit resets.",
                "required": True,
            }
        }
    return response


def _add_problems(path: str, method: str, operation: dict[str, Any]) -> None:
    statuses = list(_ALWAYS)
    if method in ("post", "patch", "delete"):
        statuses += _WRITES
    if method == "post":
        statuses.append("422")
    if "/traces" in path:
        statuses.append("503")
    responses = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(status, _problem_response(status))


IDEMPOTENCY_PARAMETER: dict[str, Any] = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    "description": "Any unique string (a UUID, say). A retry with the same key and the same "
    "request returns the first answer (with `Idempotent-Replayed: true`) instead of doing "
    "the work twice; the same key with a different request is refused with 422. Kept 24 "
    "hours, per token.",
    "example": "0b9a1f0e-5c3d-4e8f-9a6b-2d1c7e4f8a90",
}


_PARAM = re.compile(r"\{([^}]+)\}")


def _add_links(paths: dict[str, Any]) -> None:
    """From each create (POST on a collection, answering 201) to every operation on the
    created object: ``{collection}/{id}``, its actions, and what is nested under it."""
    for path, operations in paths.items():
        create = operations.get("post")
        if not create or "201" not in create.get("responses", {}):
            continue
        links: dict[str, Any] = {}
        for target_path, target_ops in paths.items():
            if not target_path.startswith(path + "/{"):
                continue
            rest = target_path[len(path) + 1 :]
            lookup = rest.split("/", 1)[0].strip("{}")
            body_field = "slug" if lookup == "tenant_slug" else "id"
            for method, target in target_ops.items():
                if not isinstance(target, dict) or "operationId" not in target:
                    continue
                parameters = {}
                for name in _PARAM.findall(target_path):
                    if name == lookup:
                        parameters[name] = f"$response.body#/{body_field}"
                    elif name in _PARAM.findall(path):
                        parameters[name] = f"$request.path.{name}"
                if set(parameters) != set(_PARAM.findall(target_path)):
                    continue
                links[target["operationId"]] = {
                    "operationId": target["operationId"],
                    "parameters": parameters,
                    "description": f"{method.upper()} {target_path} of the created object.",
                }
        if links:
            create["responses"]["201"]["links"] = links


def _tag(path: str) -> str:
    """The resource a path is about: ``/api/v1/tenants/{tenant_slug}/agents/...`` -> agents."""
    parts = [p for p in path.removeprefix("/api/v1/").split("/") if not p.startswith("{")]
    if parts[0] == "tenants" and len(parts) > 1:
        return "agent-keys" if parts[1:3] == ["agents", "keys"] else parts[1]
    return parts[0]


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: bool) -> Any:
    """drf-spectacular POSTPROCESSING_HOOKS entry."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, Any] = result.get("paths", {})
    for path, operations in paths.items():
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                operation["tags"] = [_tag(path)]
                _add_problems(path, method, operation)
                if method == "post":
                    operation.setdefault("parameters", []).append(IDEMPOTENCY_PARAMETER)
                    for code, response in operation["responses"].items():
                        if code.startswith("2"):
                            response.setdefault("headers", {})["Idempotent-Replayed"] = {
                                "schema": {"type": "string", "enum": ["true"]},
                                "description": "Present on a replay of an earlier answer.",
                            }
    _add_links(paths)
    return result
