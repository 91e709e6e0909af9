"""Usage from the ledger (JSON and CSV) and traces from ClickHouse, per tenant."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

import pytest
from django.utils import timezone

from controlplane.core.tenancy import all_tenants_context
from tenants.models import Department, Membership
from tenants.services import department_create, membership_set_departments
from tests.api.conftest import World
from tests.api.telemetry_data import Call, record_calls
from tests.conftest import SYSTEM

pytestmark = pytest.mark.django_db

DAY1 = (timezone.now() - dt.timedelta(days=3)).replace(hour=10, minute=0, second=0, microsecond=0)
DAY2 = DAY1 + dt.timedelta(days=1)


@pytest.fixture
def usage(world: World) -> World:
    """Calls of agent-a in tenant A on two days, and one of tenant B's agent."""
    a, b = world.a_objects, world.b_objects
    trace = uuid.uuid4().hex
    record_calls(
        tenant_id=world.a.pk,
        agent_id=a["agent"],
        department_id=a["department"],
        calls=[
            Call(DAY1, trace, 1, input_tokens=1_000_000, output_tokens=0),
            Call(DAY1 + dt.timedelta(seconds=1), trace, 2, parent=f"{1:016x}", name="tool"),
            Call(DAY2, uuid.uuid4().hex, 1, provider="anthropic", model="claude", status="error"),
        ],
    )
    record_calls(
        tenant_id=world.b.pk,
        agent_id=b["agent"],
        department_id=b["department"],
        calls=[Call(DAY1, world.trace_id, 1, input_tokens=5)],
    )
    return world


def test_usage_by_agent_and_day(usage: World) -> None:
    report = usage.api("a:billing").get("tenants/acme/usage", group_by="agent,day").json()

    assert report["group_by"] == ["agent", "day"]
    assert [(r["agent"], r["day"], r["events"]) for r in report["rows"]] == [
        ("agent-a", DAY1.date().isoformat(), 2),
        ("agent-a", DAY2.date().isoformat(), 1),
    ]
    first = report["rows"][0]
    assert first["input_tokens"] == 1_001_000 and first["agent_id"] == str(usage.a_objects["agent"])
    # 1M input tokens at 0.40/M, plus the second call: 1000 at 0.40/M and 200 at 1.60/M.
    assert first["cost"] == "0.400720000"
    assert "department" not in first and "model" not in first
    assert report["totals"]["events"] == 3


@pytest.mark.parametrize("dimension", ["department", "provider", "model"])
def test_usage_by_one_dimension(usage: World, dimension: str) -> None:
    rows = usage.api("a:viewer").get("tenants/acme/usage", group_by=dimension).json()["rows"]
    keys = {r.get(dimension) for r in rows}
    expected = {
        "department": {"R&D a"},
        "provider": {"openai", "anthropic"},
        "model": {"gpt-4.1-mini", "claude"},
    }[dimension]
    assert keys == expected
    assert sum(r["events"] for r in rows) == 3


def test_usage_filters_and_range(usage: World) -> None:
    api = usage.api("a:viewer")
    only = api.get("tenants/acme/usage", provider="anthropic").json()
    assert only["totals"]["events"] == 1
    window = api.get(
        "tenants/acme/usage",
        since=DAY2.isoformat(),
        until=(DAY2 + dt.timedelta(hours=1)).isoformat(),
    ).json()
    assert window["totals"]["events"] == 1
    bad = api.get("tenants/acme/usage", group_by="agent,weather")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "group_by"
    backwards = api.get("tenants/acme/usage", since=DAY2.isoformat(), until=DAY1.isoformat())
    assert backwards.status_code == 400 and backwards.json()["errors"][0]["field"] == "since"


def test_usage_as_csv(usage: World) -> None:
    api = usage.api("a:billing")
    by_format = api.get("tenants/acme/usage", group_by="agent,model", format="csv")
    by_accept = api.get(
        "tenants/acme/usage", group_by="agent,model", headers={"Accept": "text/csv"}
    )

    for response in (by_format, by_accept):
        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert response["Content-Disposition"].startswith('attachment; filename="usage-acme-')
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert list(rows[0]) == [
            "agent_id",
            "agent",
            "model",
            "events",
            "input_tokens",
            "output_tokens",
            "cost",
        ]
        assert {(r["model"], r["events"]) for r in rows} == {("claude", "1"), ("gpt-4.1-mini", "2")}
    error = api.get("tenants/acme/usage", group_by="nope", format="csv")
    assert error.status_code == 400 and error["Content-Type"] == "application/problem+json"


def test_traces_list_and_detail(usage: World) -> None:
    api = usage.api("a:member")
    listed = api.get("tenants/acme/traces").json()
    assert len(listed["results"]) == 2 and listed["next"] is None
    newest, oldest = listed["results"]
    assert newest["status"] == "error" and oldest["spans"] == 2

    detail = api.get(f"tenants/acme/traces/{oldest['trace_id']}").json()
    assert [s["name"] for s in detail["spans"]] == ["chat", "tool"]
    assert detail["spans"][0]["attributes"] == {"gen_ai.request.temperature": 0.2}
    assert detail["spans"][1]["parent_span_id"] == f"{1:016x}"

    paged = api.get("tenants/acme/traces", limit="1").json()
    assert paged["results"][0]["trace_id"] == newest["trace_id"]
    rest = api.get(paged["next"]).json()
    assert [t["trace_id"] for t in rest["results"]] == [oldest["trace_id"]]
    errors = api.get("tenants/acme/traces", status="error").json()["results"]
    assert [t["trace_id"] for t in errors] == [newest["trace_id"]]


def test_trace_pages_keep_the_window_and_every_trace_once(world: World) -> None:
    a = world.a_objects
    start = timezone.now() - dt.timedelta(hours=1)
    long_run, short_runs = uuid.uuid4().hex, [uuid.uuid4().hex for _ in range(3)]
    record_calls(
        tenant_id=world.a.pk,
        agent_id=a["agent"],
        department_id=a["department"],
        calls=[  # a long run whose second call comes after the short runs started
            Call(start, long_run, 1, input_tokens=10),
            Call(start + dt.timedelta(minutes=30), long_run, 2, input_tokens=70),
            *(
                Call(start + dt.timedelta(minutes=n), trace)
                for n, trace in enumerate(short_runs, start=1)
            ),
        ],
    )
    api = world.api("a:member")

    seen, url = [], "tenants/acme/traces?limit=2"
    while url:
        page = api.get(url).json()
        seen += page["results"]
        url = page["next"]
    assert [t["trace_id"] for t in seen] == [*reversed(short_runs), long_run]
    assert (seen[-1]["spans"], seen[-1]["input_tokens"]) == (2, 80)
    half = api.get("tenants/acme/traces", before=start.isoformat())
    assert half.status_code == 400
    assert [e["field"] for e in half.json()["errors"]] == ["before_trace"]


def test_another_tenants_trace_is_not_found(usage: World) -> None:
    api = usage.api("a:owner")
    assert api.get(f"tenants/acme/traces/{usage.trace_id}").status_code == 404
    assert api.get("tenants/acme/traces/not-a-trace-id").status_code == 404
    own = usage.api("b:owner").get(f"tenants/globex/traces/{usage.trace_id}")
    assert own.status_code == 200 and own.json()["spans"][0]["input_tokens"] == 5


def test_a_department_scoped_member_gets_only_their_departments(usage: World) -> None:
    """agent-a's calls are all in "R&D a"; limited to another department of the tenant,
    the member sees none of them, by usage or by trace."""
    trace_id = usage.api("a:owner").get("tenants/acme/traces").json()["results"][0]["trace_id"]
    other = department_create(actor=SYSTEM, tenant=usage.a, name="Sales", code="S")
    with all_tenants_context():
        membership = Membership.unscoped.get(user=usage.users["a:member"])
    membership_set_departments(actor=SYSTEM, membership=membership, departments=[other])
    api = usage.api("a:member")

    assert api.get("tenants/acme/usage").json()["totals"]["events"] == 0
    assert api.get("tenants/acme/traces").json()["results"] == []
    assert api.get(f"tenants/acme/traces/{trace_id}").status_code == 404
    assert usage.api("a:viewer").get("tenants/acme/usage").json()["totals"]["events"] == 3

    with all_tenants_context():
        home = Department.unscoped.get(pk=usage.a_objects["department"])
    membership_set_departments(actor=SYSTEM, membership=membership, departments=[home])
    assert api.get("tenants/acme/usage").json()["totals"]["events"] == 3
    assert api.get(f"tenants/acme/traces/{trace_id}").status_code == 200


def test_traces_are_searched_like_the_trace_explorer(usage: World) -> None:
    api = usage.api("a:member")
    oldest, newest = sorted(
        api.get("tenants/acme/traces").json()["results"], key=lambda t: t["started_at"]
    )

    def found(**query: str) -> list[str]:
        response = api.get("tenants/acme/traces", **query)
        assert response.status_code == 200, response.json()
        return [t["trace_id"] for t in response.json()["results"]]

    assert found(provider="anthropic") == [newest["trace_id"]]
    assert found(model="gpt-4.1-mini") == [oldest["trace_id"]]
    assert found(q="TOOL") == [oldest["trace_id"]]
    assert found(q="%") == []
    assert found(department=str(usage.a_objects["department"])) == [
        newest["trace_id"],
        oldest["trace_id"],
    ]
    assert found(department=str(usage.b_objects["department"])) == []
    too_long = api.get("tenants/acme/traces", q="x" * 201)
    assert too_long.status_code == 400 and too_long.json()["errors"][0]["field"] == "q"


@pytest.mark.parametrize(
    ("who", "reads"),
    [
        ("a:owner", True),
        ("a:admin", True),
        ("a:member", True),
        ("a:billing", False),
        ("a:viewer", False),
        ("staff:admin", True),
        ("staff:operator", True),
        ("staff:auditor", False),
    ],
)
def test_prompts_and_responses_only_for_roles_that_may_read_them(
    usage: World, who: str, reads: bool
) -> None:
    api = usage.api(who)
    listed = api.get("tenants/acme/traces")
    assert listed.status_code == 200  # usage and cost: every role
    oldest = min(listed.json()["results"], key=lambda t: t["started_at"])
    detail = api.get(f"tenants/acme/traces/{oldest['trace_id']}").json()

    assert detail["bodies_withheld"] is not reads
    chat = detail["spans"][0]
    assert chat["input_tokens"] == 1_000_000 and chat["cost"]  # metadata stays
    assert chat["attributes"] == {"gen_ai.request.temperature": 0.2}
    assert bool(chat["request_body"]) is reads and bool(chat["response_body"]) is reads

    search = api.get("tenants/acme/traces", q="chat")
    if reads:
        assert search.status_code == 200
    else:
        assert search.status_code == 403
        assert search["Content-Type"] == "application/problem+json"
        assert "read prompts and responses" in search.json()["detail"]
    # Another tenant's trace: the same 404 whatever the role.
    assert api.get(f"tenants/acme/traces/{usage.trace_id}").status_code == 404
