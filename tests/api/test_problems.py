"""Every error is application/problem+json naming the field at fault; rate limits."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from pytest_django import Settings as SettingsWrapper

from controlplane.api.parsers import LimitedJSONParser, PayloadTooLarge
from controlplane.api.problems import problem_exception_handler
from tests.api.conftest import Api, World, issue_token

pytestmark = pytest.mark.django_db

PROBLEM_KEYS = {"type", "title", "status", "detail", "errors"}


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert set(body) == PROBLEM_KEYS
    assert body["status"] == status
    assert body["type"].startswith("urn:acp:problem:")
    return body


def test_validation_errors_name_each_field(world: World) -> None:
    body = assert_problem(
        world.api("a:admin").post(
            "tenants/acme/agents",
            {"name": "", "tools": ["ok", 7 * "x" * 100], "operating_window": {"days": [9]}},
        ),
        400,
    )
    fields = {error["field"] for error in body["errors"]}
    assert {"name", "tools.1", "operating_window.days.0", "operating_window.start"} <= fields
    assert body["type"] == "urn:acp:problem:validation-error"
    assert body["detail"].startswith("name: ")


def test_a_clash_with_a_unique_name_is_on_the_name(world: World) -> None:
    api = world.api("a:admin")
    assert api.post("tenants/acme/sites", {"name": "Lab"}).status_code == 201
    body = assert_problem(api.post("tenants/acme/sites", {"name": "Lab"}), 400)
    assert body["errors"] == [
        {"field": "name", "message": "Site with this Tenant and Name already exists."}
    ]


def test_another_tenants_object_in_a_body_is_not_found(world: World) -> None:
    body = assert_problem(
        world.api("a:admin").post(
            "tenants/acme/devices", {"site": str(world.b_objects["site"]), "name": "x"}
        ),
        400,
    )
    assert body["errors"][0]["field"] == "site"
    assert "No such object" in body["errors"][0]["message"]


def test_problem_shapes_of_http_errors(world: World) -> None:
    api = world.api("a:member")
    assert_problem(Api(None).get("me"), 401)
    assert_problem(api.post("tenants/acme/sites", {"name": "x"}), 403)
    assert_problem(api.get("tenants/no-such-tenant/sites"), 404)
    assert_problem(api.get("/api/v1/no/such/endpoint"), 404)
    assert_problem(api.get("/api/unknown"), 404)
    assert_problem(world.api("a:admin").request("PUT", "tenants/acme/sites", {}), 405)
    assert_problem(api.get("tenants/acme/sites", headers={"Accept": "text/csv"}), 406)
    unsupported = api.client.post(
        "/api/v1/tenants/acme/sites",
        "name=x",
        content_type="text/plain",
        headers=api.headers(),
    )
    admin = world.api("a:admin")
    assert_problem(
        admin.client.post(
            "/api/v1/tenants/acme/sites",
            "name=x",
            content_type="text/plain",
            headers=admin.headers(),
        ),
        415,
    )
    assert unsupported.status_code == 403  # rights are checked before the body is read
    malformed = admin.client.post(
        "/api/v1/tenants/acme/sites",
        "{nope",
        content_type="application/json",
        headers=admin.headers(),
    )
    assert_problem(malformed, 400)


@pytest.mark.django_db
def test_an_unexpected_error_is_a_problem_that_hides_its_details() -> None:
    response = problem_exception_handler(RuntimeError("kaput at 0xdeadbeef"), {})
    assert response is not None and response.status_code == 500
    assert response.data["status"] == 500 and "kaput" not in str(response.data)


def test_rate_limit_answers_429_with_retry_after(world: World, settings: SettingsWrapper) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 3
    api = world.api("a:viewer")
    other = world.api("a:viewer")
    # The limit counts per clock minute: start the burst well inside one.
    if (seconds_left := 60 - time.time() % 60) < 10:
        time.sleep(seconds_left + 0.1)
    answers = [api.get("me") for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0]["X-RateLimit-Limit"] == "3"
    assert answers[2]["X-RateLimit-Remaining"] == "0"
    body = assert_problem(answers[3], 429)
    assert body["type"] == "urn:acp:problem:throttled"
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert other.get("me").status_code == 200  # the limit is per token


def test_json_nested_too_deep_is_a_400_not_a_crash(world: World) -> None:
    api = world.api("a:admin")
    deep = "[" * 50_000 + "]" * 50_000
    response = api.client.post(
        "/api/v1/tenants/acme/sites", deep, content_type="application/json", headers=api.headers()
    )
    body = assert_problem(response, 400)
    assert "nests deeper than 128" in body["detail"]
    # Nesting within the limit still reaches the serializer, which names the field.
    shallow = '{"name": ' + "[" * 100 + "]" * 100 + "}"
    response = api.client.post(
        "/api/v1/tenants/acme/sites",
        shallow,
        content_type="application/json",
        headers=api.headers(),
    )
    assert assert_problem(response, 400)["errors"][0]["field"] == "name"


def test_an_oversized_body_is_a_413_problem(world: World, settings: SettingsWrapper) -> None:
    settings.API_MAX_BODY_BYTES = 4096
    api = world.api("a:admin")
    name = "x" * 5000
    body = assert_problem(api.post("tenants/acme/sites", {"name": name}), 413)
    assert body["type"] == "urn:acp:problem:payload-too-large"
    assert "4096 bytes" in body["detail"]
    # Refused before authentication too: an anonymous 20 MB body costs nothing.
    anonymous = Api(None).post("tenants/acme/sites", {"name": "x" * (20 << 20)})
    assert_problem(anonymous, 413)
    # A body without a declared length is read no further than the limit.
    parser = LimitedJSONParser()
    with pytest.raises(PayloadTooLarge):
        parser.parse(io.BytesIO(b'{"name": "' + b"x" * 5000 + b'"}'), "application/json", {})
    assert api.post("tenants/acme/sites", {"name": "Lab"}).status_code == 201


def test_minting_tokens_does_not_multiply_the_rate_limit(
    world: World, settings: SettingsWrapper
) -> None:
    settings.API_RATE_LIMIT_PER_MINUTE = 100
    settings.API_RATE_LIMIT_PER_USER_PER_MINUTE = 3
    first, second = world.api("a:viewer"), world.api("a:viewer")
    if (seconds_left := 60 - time.time() % 60) < 10:
        time.sleep(seconds_left + 0.1)
    answers = [api.get("me") for api in (first, second, first, second)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert_problem(answers[3], 429)
    assert answers[2]["X-RateLimit-Limit"] == "3"
    assert world.api("a:member").get("me").status_code == 200  # another user


def test_a_tenants_users_share_its_rate_limit(world: World, settings: SettingsWrapper) -> None:
    settings.API_RATE_LIMIT_PER_TENANT_PER_MINUTE = 3
    if (seconds_left := 60 - time.time() % 60) < 10:
        time.sleep(seconds_left + 0.1)
    answers = [world.api(who).get("me") for who in ("a:viewer", "a:member", "a:admin", "a:owner")]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    assert world.api("b:owner").get("me").status_code == 200  # another tenant
    assert world.api("staff:admin").get("me").status_code == 200  # staff: no tenant's quota


def test_failed_authentication_is_throttled_per_token_prefix(
    world: World, settings: SettingsWrapper
) -> None:
    settings.API_AUTH_MAX_FAILURES_PER_PREFIX = 3
    token = issue_token(world.users["a:viewer"])
    prefix = token.split("_")[1]
    guesses = [Api(f"acp_{prefix}_guess{n}").get("me") for n in range(3)]
    assert [g.status_code for g in guesses] == [401, 401, 401]
    # The prefix is locked: even its real secret waits, from any address.
    locked = Api(token).client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token}"}, REMOTE_ADDR="10.9.9.9"
    )
    body = assert_problem(locked, 429)
    assert "failed authentication" in body["detail"]
    assert 1 <= int(locked["Retry-After"]) <= 300
    assert world.api("a:member").get("me").status_code == 200  # other tokens are not


def test_failed_authentication_is_throttled_per_address(
    world: World, settings: SettingsWrapper
) -> None:
    settings.API_AUTH_MAX_FAILURES_PER_IP = 3
    for n in range(3):
        assert Api(f"acp_p{n}_nothing").get("me").status_code == 401
    assert_problem(world.api("a:viewer").get("me"), 429)  # this address waits
    elsewhere = world.api("a:viewer")
    answer = elsewhere.client.get("/api/v1/me", headers=elsewhere.headers(), REMOTE_ADDR="10.9.9.9")
    assert answer.status_code == 200
