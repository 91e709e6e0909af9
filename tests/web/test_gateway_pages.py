"""The gateway page of a tenant in the portal and the console: policy, role defaults,
budgets and the tenant's own providers, API keys and routes (changed here), MSP-wide
providers and routes and configuration versions (shown only)."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from controlplane.accounts.models import User
from controlplane.agents.services import agent_create
from controlplane.audit.models import AuditEvent
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway import services as gateway
from controlplane.gateway.bundle import site_content
from controlplane.gateway.models import (
    Budget,
    ConfigChange,
    Policy,
    Provider,
    RoleDefault,
    Route,
)
from tenants.services import membership_set_departments
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span
from tests.web.test_traces import new_trace_id

pytestmark = pytest.mark.django_db

SECRET = "sk-live-very-secret-key-9f3a"


def url(world: World, name: str = "gateway", *args: object, slug: str | None = None) -> str:
    return reverse(f"web:portal_{name}", args=[slug or world.a.slug, *args])


def console_url(world: World, name: str = "gateway", *args: object) -> str:
    return reverse(f"web:console_{name}", args=[world.a.slug, *args])


def budgets(tenant: object) -> list[Budget]:
    with tenant_context(tenant):  # type: ignore[arg-type]
        return list(Budget.objects.all())


def budget_rows(response: Any) -> list[tuple[str, str, str, str]]:
    return [(r.target, r.limit, r.spent, f"{r.percent} %") for r in response.context["budgets"]]


def new_budget(**fields: Any) -> dict[str, Any]:
    """The add-budget form's fields: a soft monthly $10 on the tenant, unless told."""
    return {
        "name": "",
        "target": "tenant",
        "period": "month",
        "kind": "soft",
        "limit": "10",
    } | fields


def model_call(fleet: Fleet, **fields: Any) -> bytes:
    """A model call of fleet's agent a minute ago (today in UTC, as the budgets' days
    are): 1M tokens in and out, $0.75."""
    now = timezone.now()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return span(
        fleet,
        trace_id=new_trace_id(),
        span_id="0000000000000001",
        start=max(now - dt.timedelta(minutes=1), midnight),
        kind="model",
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=1_000_000,
        output_tokens=1_000_000,
        **fields,
    )


# --- policy ------------------------------------------------------------------------------


def test_a_new_tenant_shows_the_default_policy(world: World) -> None:
    body = signed_in(world.a_member).get(url(world)).content.decode()
    assert "Block" in body and "Flag" in body
    assert "every type the edge detects" in body
    assert "These are the defaults" in body


def test_owner_sets_the_policy(world: World) -> None:
    client = signed_in(world.a_owner)
    response = client.post(
        url(world, "gateway_policy"),
        {
            "injection": "flag",
            "pii": "redact",
            "pii_types": ["email", "iban"],
            "tool_data_classes": '{"ledger.query": ["finance"]}',
            "max_requests_per_minute": "600",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url(world) + "#policy"
    with tenant_context(world.a):
        policy = Policy.objects.get()
        assert AuditEvent.objects.filter(action="policy.set").exists()
    assert (policy.injection, policy.pii) == ("flag", "redact")
    assert policy.pii_types == ["email", "iban"]
    assert policy.tool_data_classes == {"ledger.query": ["finance"]}
    assert policy.max_requests_per_minute == 600

    page = client.get(url(world))
    body = page.content.decode()
    assert "The policy was saved" in body
    form = page.context["policy_form"]
    assert form["pii"].value() == "redact" and form["pii_types"].value() == ["email", "iban"]
    assert form["max_requests_per_minute"].value() == 600
    assert "ledger.query" in body
    member_view = signed_in(world.a_member).get(url(world)).content.decode()
    assert "Redact" in member_view and "email, iban" in member_view
    assert "<code>ledger.query</code>: finance" in member_view
    assert "Requests a minute per agent</dt><dd>600</dd>" in member_view


def test_scope_enforcement_is_set_on_the_policy_form(
    world: World, make_customer: Callable[..., User], make_staff: Callable[..., User]
) -> None:
    """The edges' answer to a call outside an agent's learned scope: an owner makes it
    refuse, a viewer reads it and cannot change it, an outsider finds no such page, and
    a console operator sets it back to flag."""
    form = {"injection": "block", "pii": "flag", "scope_enforcement": "refuse"}
    owner = signed_in(world.a_owner)
    assert owner.get(url(world)).context["policy_form"]["scope_enforcement"].value() == "flag"
    assert owner.post(url(world, "gateway_policy"), form).status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().scope_enforcement == "refuse"
    page = owner.get(url(world))
    assert page.context["policy_form"]["scope_enforcement"].value() == "refuse"
    assert 'value="refuse" selected' in page.content.decode()
    # a save without the field (an older form) keeps it
    assert (
        owner.post(url(world, "gateway_policy"), {**form, "scope_enforcement": ""}).status_code
        == 302
    )
    with tenant_context(world.a):
        assert Policy.objects.get().scope_enforcement == "refuse"

    viewer = signed_in(make_customer(world.a, "viewer"))
    body = viewer.get(url(world)).content.decode()
    assert "Outside the learned scope</dt><dd>refused</dd>" in body
    flag = {**form, "scope_enforcement": "flag"}
    assert viewer.post(url(world, "gateway_policy"), flag).status_code == 403
    assert signed_in(world.b_owner).post(url(world, "gateway_policy"), flag).status_code == 404
    with tenant_context(world.a):
        assert Policy.objects.get().scope_enforcement == "refuse"

    operator = signed_in(make_staff("operator"))
    assert operator.post(console_url(world, "gateway_policy"), flag).status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().scope_enforcement == "flag"
    bad = owner.post(url(world, "gateway_policy"), {**form, "scope_enforcement": "ignore"})
    assert bad.status_code == 200 and list(bad.context["policy_form"].errors) == [
        "scope_enforcement"
    ]


@pytest.mark.parametrize("name", ["url", "console_url"])
def test_the_injection_stage_is_chosen_on_the_policy_form(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User], name: str
) -> None:
    client = signed_in(world.a_owner if name == "url" else make_staff("operator"))
    page_url = {"url": url, "console_url": console_url}[name]
    page = client.get(page_url(world)).content.decode()
    assert "Injection detection" in page and "Rules + learned stage" in page
    form = {"injection": "block", "pii": "flag", "tool_data_classes": ""}
    response = client.post(
        page_url(world, "gateway_policy"),
        {**form, "injection_stage": "rules_and_classifier"},
    )
    assert response.status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().injection_stage == "rules_and_classifier"
    # the edges get it in the next bundle
    with all_tenants_context():
        assert site_content(fleet_a.site)["policies"][0]["injection_stage"] == (
            "rules_and_classifier"
        )
    again = client.get(page_url(world))
    assert again.context["policy_form"]["injection_stage"].value() == "rules_and_classifier"
    member_view = signed_in(world.a_member).get(url(world)).content.decode()
    assert "Injection detection</dt><dd>rules + learned stage</dd>" in member_view

    # a form that leaves it out keeps it; an unknown stage is a form error naming the field
    assert client.post(page_url(world, "gateway_policy"), form).status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().injection_stage == "rules_and_classifier"
    bad = client.post(page_url(world, "gateway_policy"), {**form, "injection_stage": "model_only"})
    assert bad.status_code == 200
    assert list(bad.context["policy_form"].errors) == ["injection_stage"]
    with tenant_context(world.a):
        assert Policy.objects.get().injection_stage == "rules_and_classifier"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"ledger.query": ["finance"]', "not valid JSON"),
        ('{"ledger.query": "finance"}', "expected a list of data classes"),
    ],
)
def test_bad_tool_data_classes_are_a_form_error(world: World, text: str, message: str) -> None:
    response = signed_in(world.a_owner).post(
        url(world, "gateway_policy"),
        {"injection": "block", "pii": "redact", "tool_data_classes": text},
    )
    assert response.status_code == 200
    errors = response.context["policy_form"].errors
    assert list(errors) == ["tool_data_classes"]
    assert message in response.content.decode()
    with tenant_context(world.a):
        assert not Policy.objects.exists()
        assert not AuditEvent.objects.filter(action="policy.set").exists()


# --- role defaults -----------------------------------------------------------------------


def dashed(text: str) -> str:
    """``text`` with its hyphens as the en dashes the page shows."""
    return text.replace("-", "\N{EN DASH}")


def role_defaults(tenant: object) -> dict[str, RoleDefault]:
    with tenant_context(tenant):  # type: ignore[arg-type]
        return {d.role: d for d in RoleDefault.objects.all()}


def role_default_rows(response: Any) -> list[tuple[str, int, str]]:
    return [(r.default.role, r.agents, r.window) for r in response.context["role_defaults"]]


def new_role_default(**fields: Any) -> dict[str, Any]:
    """The role defaults form: marketing, two models, one tool, two data classes, complex,
    Monday to Friday 08:00-18:00 UTC, unless told."""
    return {
        "role": "marketing",
        "allowed_models": "gpt-4o-mini, claude-haiku",
        "allowed_tools": "crm.search",
        "data_classes": "pii, marketing",
        "tier": "complex",
        "window_days": ["0", "1", "2", "3", "4"],
        "window_start": "08:00",
        "window_end": "18:00",
        "window_tz": "UTC",
    } | fields


def audit_actions(tenant: object, action: str) -> list[str]:
    with tenant_context(tenant):  # type: ignore[arg-type]
        return list(AuditEvent.objects.filter(action=action).values_list("actor_label", flat=True))


def test_owner_sets_a_role_default_shown_with_the_agents_it_affects(world: World) -> None:
    for name, role in (("mkt-1", "marketing"), ("mkt-2", "marketing"), ("fin-1", "finance")):
        agent_create(actor=SYSTEM, tenant=world.a, name=name, role=role)
    client = signed_in(world.a_owner)
    response = client.post(url(world, "gateway_role_default_set"), new_role_default())
    assert response.status_code == 302
    assert response["Location"] == url(world) + "#role-defaults"

    default = role_defaults(world.a)["marketing"]
    assert default.allowed_models == ["gpt-4o-mini", "claude-haiku"]
    assert default.allowed_tools == ["crm.search"]
    assert default.data_classes == ["pii", "marketing"]
    assert default.tier == "complex"
    assert default.operating_window == {
        "days": [0, 1, 2, 3, 4],
        "start": "08:00",
        "end": "18:00",
        "tz": "UTC",
    }
    assert len(audit_actions(world.a, "role_default.set")) == 1

    page = client.get(url(world))
    body = page.content.decode()
    assert "The defaults of the role marketing were saved" in body
    assert role_default_rows(page) == [("marketing", 2, dashed("Mon-Fri 08:00-18:00 UTC"))]
    assert "<code>gpt-4o-mini</code>, <code>claude-haiku</code>" in body
    assert "finance</a> (1 agent)" in body  # a role without defaults, linked to the form

    member_view = signed_in(world.a_member).get(url(world)).content.decode()
    assert (
        dashed("Mon-Fri 08:00-18:00 UTC") in member_view
        and "<code>crm.search</code>" in member_view
    )
    assert "pii, marketing" in member_view and "finance (1 agent)" in member_view


def test_a_role_default_tier_can_be_auto(world: World) -> None:
    client = signed_in(world.a_owner)
    assert "Auto (scored per request)" in client.get(url(world)).content.decode()
    response = client.post(url(world, "gateway_role_default_set"), new_role_default(tier="auto"))
    assert response.status_code == 302
    assert role_defaults(world.a)["marketing"].tier == "auto"
    member_view = signed_in(world.a_member).get(url(world)).content.decode()
    assert "<td>Auto (scored per request)</td>" in member_view
    edit = client.get(url(world) + "?role=marketing")
    assert edit.context["role_default_form"]["tier"].value() == "auto"


def test_a_role_default_sets_a_rate_ceiling_and_refuses_outside_the_learned_scope(
    world: World,
) -> None:
    client = signed_in(world.a_owner)
    response = client.post(
        url(world, "gateway_role_default_set"),
        new_role_default(max_requests_per_minute="30", scope_enforcement="refuse"),
    )
    assert response.status_code == 302
    default = role_defaults(world.a)["marketing"]
    assert (default.max_requests_per_minute, default.scope_enforcement) == (30, "refuse")
    member_view = signed_in(world.a_member).get(url(world)).content.decode()
    assert "30/min, refuse" in member_view
    edit = client.get(url(world) + "?role=marketing").context["role_default_form"]
    assert (edit["max_requests_per_minute"].value(), edit["scope_enforcement"].value()) == (
        30,
        "refuse",
    )

    client.post(url(world, "gateway_role_default_set"), new_role_default())
    default = role_defaults(world.a)["marketing"]
    assert (default.max_requests_per_minute, default.scope_enforcement) == (None, "")


def test_editing_a_role_prefills_the_form_and_saving_replaces_its_defaults(
    world: World,
) -> None:
    client = signed_in(world.a_owner)
    client.post(url(world, "gateway_role_default_set"), new_role_default())
    page = client.get(url(world))
    [row] = page.context["role_defaults"]
    assert row.edit_url == url(world) + "?role=marketing#role-default-form"

    edit = client.get(row.edit_url)
    form = edit.context["role_default_form"]
    assert form["role"].value() == "marketing" and form["tier"].value() == "complex"
    assert form["allowed_models"].value() == "gpt-4o-mini, claude-haiku"
    assert form["window_days"].value() == [0, 1, 2, 3, 4]
    body = edit.content.decode()
    assert 'value="gpt-4o-mini, claude-haiku"' in body and "Set the defaults of marketing" in body

    changed = client.post(
        url(world, "gateway_role_default_set"),
        new_role_default(
            allowed_models="",
            allowed_tools="",
            data_classes="",
            tier="simple",
            window_days=[],
            window_start="",
            window_end="",
        ),
    )
    assert changed.status_code == 302
    [default] = role_defaults(world.a).values()
    assert (default.allowed_models, default.allowed_tools, default.data_classes) == ([], [], [])
    assert (default.tier, default.operating_window) == ("simple", {})
    assert len(audit_actions(world.a, "role_default.set")) == 2

    page = client.get(url(world))
    assert role_default_rows(page) == [("marketing", 0, "Always")]
    cells = page.content.decode().split(f'id="role-default-{default.pk}"')[1].split("</tr>")[0]
    assert cells.count('<span class="muted">any</span>') == 2  # models and tools
    assert '<span class="muted">none</span>' in cells  # data classes


@pytest.mark.parametrize(
    ("window", "shown"),
    [
        (
            {"window_start": "22:00", "window_end": "06:00"},
            dashed("Mon-Fri 22:00-06:00 UTC (past midnight)"),
        ),
        (
            {"window_days": ["5", "6"], "window_start": "00:00", "window_end": "00:00"},
            "Sat, Sun Europe/Berlin",
        ),
        (
            {"window_days": [str(d) for d in range(7)], "window_end": "00:00"},
            dashed("Every day 08:00-24:00 Europe/Berlin"),
        ),
    ],
)
def test_windows_past_midnight_and_to_the_end_of_the_day(
    world: World, window: dict[str, Any], shown: str
) -> None:
    tz = {} if "06:00" in window.values() else {"window_tz": "Europe/Berlin"}
    client = signed_in(world.a_owner)
    response = client.post(url(world, "gateway_role_default_set"), new_role_default(**window, **tz))
    assert response.status_code == 302
    assert role_default_rows(client.get(url(world))) == [("marketing", 0, shown)]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"window_end": "08:00"}, "window_end", "never be open"),
        ({"window_start": "25:00"}, "window_start", "Enter a valid time"),
        ({"window_end": "6pm"}, "window_end", "Enter a valid time"),
        ({"window_start": ""}, "window_start", "Give the start"),
        ({"window_days": []}, "window_days", "Pick the days"),
        ({"window_tz": "Mars/Olympus"}, "window_tz", "not a known time zone"),
        ({"role": "  "}, "role", "This field is required"),
        ({"tier": "huge"}, "tier", "Select a valid choice"),
        ({"max_requests_per_minute": "0"}, "max_requests_per_minute", "greater than or equal"),
        ({"scope_enforcement": "ignore"}, "scope_enforcement", "Select a valid choice"),
    ],
)
def test_invalid_role_defaults_are_form_errors_and_nothing_is_stored(
    world: World, fields: dict[str, Any], field: str, message: str
) -> None:
    response = signed_in(world.a_owner).post(
        url(world, "gateway_role_default_set"), new_role_default(**fields)
    )
    assert response.status_code == 200
    assert list(response.context["role_default_form"].errors) == [field]
    assert message in response.content.decode()
    assert role_defaults(world.a) == {} and audit_actions(world.a, "role_default.set") == []


def test_owner_deletes_a_role_default(world: World) -> None:
    kept = gateway.role_default_set(actor=SYSTEM, tenant=world.a, role="finance")
    gone = gateway.role_default_set(actor=SYSTEM, tenant=world.a, role="marketing")
    client = signed_in(world.a_owner)
    page = client.get(url(world))
    assert "Delete the defaults of marketing" in page.content.decode()
    response = client.post(url(world, "gateway_role_default_delete", gone.pk))
    assert response.status_code == 302
    assert response["Location"] == url(world) + "#role-defaults"
    assert list(role_defaults(world.a)) == [kept.role]
    assert len(audit_actions(world.a, "role_default.deleted")) == 1
    assert (
        "The defaults of the role marketing were deleted" in client.get(url(world)).content.decode()
    )


def test_member_sees_role_defaults_without_forms_and_cannot_change_them(world: World) -> None:
    default = gateway.role_default_set(
        actor=SYSTEM, tenant=world.a, role="marketing", allowed_tools=["crm.search"]
    )
    client = signed_in(world.a_member)
    body = client.get(url(world, slug=None) + "?role=marketing").content.decode()
    main = body.split('<main id="main"')[1].split("</main>")[0]
    assert "<form" not in main and "marketing" in main and "crm.search" in main
    for label in ("Save role defaults", "Edit", "Delete the defaults"):
        assert label not in main, label
    for name, args in (
        ("gateway_role_default_set", ()),
        ("gateway_role_default_delete", (default.pk,)),
    ):
        response = client.post(url(world, name, *args), new_role_default(role="marketing"))
        assert response.status_code == 403, name
    assert role_defaults(world.a)["marketing"].allowed_tools == ["crm.search"]


def test_outsiders_get_404_on_the_role_defaults(world: World) -> None:
    default = gateway.role_default_set(actor=SYSTEM, tenant=world.a, role="marketing")
    client = signed_in(world.b_owner)
    assert (
        client.post(url(world, "gateway_role_default_set"), new_role_default()).status_code == 404
    )
    assert client.post(url(world, "gateway_role_default_delete", default.pk)).status_code == 404
    assert list(role_defaults(world.a)) == ["marketing"] and role_defaults(world.b) == {}


@pytest.mark.parametrize("area", ["portal", "console"])
def test_another_tenants_role_default_is_404_under_this_tenant(
    world: World, make_staff: Callable[..., User], area: str
) -> None:
    theirs = gateway.role_default_set(actor=SYSTEM, tenant=world.b, role="marketing")
    client = signed_in(world.a_owner if area == "portal" else make_staff("admin"))
    address = url if area == "portal" else console_url
    assert client.post(address(world, "gateway_role_default_delete", theirs.pk)).status_code == 404
    assert (
        client.post(address(world, "gateway_role_default_delete", uuid.uuid4())).status_code == 404
    )
    assert role_defaults(world.a) == {}  # the page's own ?role= never shows theirs either
    form = client.get(address(world) + "?role=marketing").context["role_default_form"]
    assert form["tier"].value() == "standard"
    assert list(role_defaults(world.b)) == ["marketing"]


def test_console_writers_set_role_defaults_read_only_staff_do_not(
    world: World, make_staff: Callable[..., User]
) -> None:
    auditor = signed_in(make_staff("auditor"))
    assert "Save role defaults" not in auditor.get(console_url(world)).content.decode()
    assert (
        auditor.post(console_url(world, "gateway_role_default_set"), new_role_default()).status_code
        == 403
    )

    operator = signed_in(make_staff("operator"))
    response = operator.post(console_url(world, "gateway_role_default_set"), new_role_default())
    assert response.status_code == 302
    assert response["Location"] == console_url(world) + "#role-defaults"
    default = role_defaults(world.a)["marketing"]
    assert role_defaults(world.b) == {}
    [label] = audit_actions(world.a, "role_default.set")
    assert label.startswith("staff-operator")
    page = operator.get(console_url(world))
    assert role_default_rows(page) == [("marketing", 0, dashed("Mon-Fri 08:00-18:00 UTC"))]
    delete = console_url(world, "gateway_role_default_delete", default.pk)
    assert auditor.post(delete).status_code == 403
    assert operator.post(delete).status_code == 302
    assert role_defaults(world.a) == {}


# --- budgets -----------------------------------------------------------------------------


def test_admin_adds_budgets_sees_their_spend_changes_and_deletes_them(
    world: World, fleet_a: Fleet
) -> None:
    finance = world.a_department
    ingest([model_call(fleet_a, department_id=str(finance.pk))], spans=False)
    client = signed_in(world.a_admin)

    for target, limit in ((f"department:{finance.pk}", "100"), (f"agent:{fleet_a.agent.pk}", "3")):
        response = client.post(
            url(world, "gateway_budget_create"),
            new_budget(target=target, kind="hard", limit=limit),
        )
        assert response.status_code == 302
    page = client.get(url(world))
    assert page.status_code == 200
    assert "was added" in page.content.decode()
    assert sorted(budget_rows(page)) == [
        ("Finance", "$100.00", "$0.75", "1 %"),
        (fleet_a.agent.name, "$3.00", "$0.75", "25 %"),
    ]
    agent_budget = next(b for b in budgets(world.a) if b.scope == "agent")
    assert agent_budget.scope_id == fleet_a.agent.pk and agent_budget.kind == "hard"

    changed = client.post(
        url(world, "gateway_budget_update", agent_budget.pk),
        {f"b{agent_budget.pk.hex}-limit": "0.5"},
    )
    assert changed.status_code == 302
    page = client.get(url(world))
    assert (fleet_a.agent.name, "$0.50", "$0.75", "150 %") in budget_rows(page)
    body = page.content.decode()
    assert "reached" in body and f'name="b{agent_budget.pk.hex}-limit" value="0.5"' in body

    deleted = client.post(url(world, "gateway_budget_delete", agent_budget.pk))
    assert deleted.status_code == 302
    assert [b.scope for b in budgets(world.a)] == ["department"]
    with tenant_context(world.a):
        actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"budget.created", "budget.updated", "budget.deleted"} <= actions


def test_a_tenant_budget_counts_every_agent(world: World, fleet_a: Fleet) -> None:
    ingest([model_call(fleet_a)], spans=False)
    gateway.budget_create(
        actor=SYSTEM, tenant=world.a, scope="tenant", period="day", limit=Decimal(1), kind="soft"
    )
    page = signed_in(world.a_member).get(url(world))
    assert budget_rows(page) == [("Tenant", "$1.00", "$0.75", "75 %")]
    assert "data-budget-spent>$0.75<" in page.content.decode()


def test_invalid_budgets_are_form_errors_and_nothing_is_created(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    client = signed_in(world.a_owner)
    assert client.post(url(world, "gateway_budget_create"), new_budget()).status_code == 302

    duplicate = client.post(url(world, "gateway_budget_create"), new_budget(limit="20"))
    assert duplicate.status_code == 200
    assert list(duplicate.context["budget_form"].errors) == ["kind"]
    assert "This tenant already has a soft monthly budget." in duplicate.content.decode()
    assert "Scope id" not in duplicate.content.decode()

    negative = client.post(url(world, "gateway_budget_create"), new_budget(kind="hard", limit="-1"))
    assert negative.status_code == 200
    assert list(negative.context["budget_form"].errors) == ["limit"]

    for foreign in (f"agent:{fleet_b.agent.pk}", f"department:{world.b_department.pk}"):
        response = client.post(
            url(world, "gateway_budget_create"), new_budget(target=foreign, kind="hard")
        )
        assert response.status_code == 200
        assert list(response.context["budget_form"].errors) == ["target"]
        assert "Choose the whole tenant" in response.content.decode()

    assert len(budgets(world.a)) == 1 and budgets(world.b) == []


def test_a_negative_new_limit_is_an_error_in_the_row(world: World) -> None:
    budget = gateway.budget_create(
        actor=SYSTEM, tenant=world.a, scope="tenant", period="day", limit=Decimal(5), kind="hard"
    )
    response = signed_in(world.a_owner).post(
        url(world, "gateway_budget_update", budget.pk), {f"b{budget.pk.hex}-limit": "-3"}
    )
    assert response.status_code == 200
    [row] = response.context["budgets"]
    assert row.form.errors and 'role="alert"' in response.content.decode()
    assert budgets(world.a)[0].limit == Decimal(5)


# --- access ------------------------------------------------------------------------------


def test_member_reads_the_page_without_forms_and_cannot_change(world: World) -> None:
    budget = gateway.budget_create(
        actor=SYSTEM, tenant=world.a, scope="tenant", period="day", limit=Decimal(5), kind="hard"
    )
    client = signed_in(world.a_member)
    response = client.get(url(world))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<form" not in body.split('<main id="main"')[1].split("</main>")[0]
    assert "Save policy" not in body and "Add budget" not in body and "Change limit" not in body
    for name, args, data in (
        ("gateway_policy", (), {"injection": "off", "pii": "off"}),
        ("gateway_budget_create", (), new_budget(period="day", kind="soft")),
        ("gateway_budget_update", (budget.pk,), {f"b{budget.pk.hex}-limit": "1"}),
        ("gateway_budget_delete", (budget.pk,), {}),
    ):
        assert client.post(url(world, name, *args), data).status_code == 403, name
    assert budgets(world.a)[0].limit == Decimal(5) and len(budgets(world.a)) == 1
    with tenant_context(world.a):
        assert not Policy.objects.exists()


def test_outsiders_get_404(world: World) -> None:
    client = signed_in(world.b_owner)
    assert client.get(url(world)).status_code == 404
    assert client.post(url(world, "gateway_policy"), {"injection": "off"}).status_code == 404


def test_another_tenants_budget_is_404_under_this_tenant(world: World) -> None:
    theirs = gateway.budget_create(
        actor=SYSTEM, tenant=world.b, scope="tenant", period="day", limit=Decimal(5), kind="hard"
    )
    client = signed_in(world.a_owner)
    update = url(world, "gateway_budget_update", theirs.pk)
    assert client.post(update, {f"b{theirs.pk.hex}-limit": "1"}).status_code == 404
    assert client.post(url(world, "gateway_budget_delete", theirs.pk)).status_code == 404
    assert budgets(world.b)[0].limit == Decimal(5)
    assert signed_in(world.b_owner).get(url(world, slug=world.b.slug)).status_code == 200


def test_a_department_scoped_member_sees_the_budgets_of_their_departments(
    world: World, fleet_a: Fleet
) -> None:
    finance = world.a_department
    finance_bot = agent_create(actor=SYSTEM, tenant=world.a, name="fin-bot", department=finance)
    for scope, scope_id in (
        ("tenant", None),
        ("department", finance.pk),
        ("agent", finance_bot.pk),
        ("agent", fleet_a.agent.pk),
    ):
        gateway.budget_create(
            actor=SYSTEM,
            tenant=world.a,
            scope=scope,
            scope_id=scope_id,
            period="month",
            limit=Decimal(10),
            kind="soft",
        )
    membership_set_departments(
        actor=SYSTEM, membership=world.membership(world.a_member), departments=[finance]
    )
    page = signed_in(world.a_member).get(url(world))
    assert sorted(r[0] for r in budget_rows(page)) == ["Finance", "Tenant", "fin-bot"]
    assert len(budget_rows(signed_in(world.a_owner).get(url(world)))) == 4


# --- the console -------------------------------------------------------------------------


def test_staff_read_the_page_and_writers_change_it(
    world: World, fleet_a: Fleet, make_staff: Callable[..., User]
) -> None:
    ingest([model_call(fleet_a)], spans=False)
    gateway.budget_create(
        actor=SYSTEM, tenant=world.a, scope="tenant", period="month", limit=Decimal(3), kind="soft"
    )
    gateway.budget_create(
        actor=SYSTEM, tenant=world.b, scope="tenant", period="month", limit=Decimal(7), kind="soft"
    )
    auditor = signed_in(make_staff("auditor"))
    page = auditor.get(console_url(world))
    assert page.status_code == 200
    assert budget_rows(page) == [("Tenant", "$3.00", "$0.75", "25 %")]
    assert "Save policy" not in page.content.decode()
    assert [i["label"] for i in page.context["nav_tenant_items"] if i["current"]] == ["Gateway"]
    assert auditor.post(console_url(world, "gateway_policy"), {}).status_code == 403

    operator = signed_in(make_staff("operator"))
    assert "Save policy" in operator.get(console_url(world)).content.decode()
    response = operator.post(
        console_url(world, "gateway_policy"),
        {"injection": "off", "pii": "block", "tool_data_classes": ""},
    )
    assert response.status_code == 302
    assert response["Location"] == console_url(world) + "#policy"
    response = operator.post(
        console_url(world, "gateway_budget_create"),
        new_budget(target=f"agent:{fleet_a.agent.pk}", period="day", limit="2"),
    )
    assert response.status_code == 302
    with tenant_context(world.a):
        assert Policy.objects.get().pii == "block"
        events = AuditEvent.objects.filter(action="policy.set")
        assert events.get().actor_label.startswith("staff-operator")
    assert {b.scope for b in budgets(world.a)} == {"tenant", "agent"}
    assert len(budgets(world.b)) == 1


def test_customers_do_not_reach_the_console_page(world: World) -> None:
    assert signed_in(world.a_owner).get(console_url(world)).status_code == 404


# --- providers, routes, versions ---------------------------------------------------------


def _provider(tenant: object, name: str, secret: str | None = None) -> Provider:
    provider = gateway.provider_create(
        actor=SYSTEM,
        tenant=tenant,  # type: ignore[arg-type]
        name=name,
        kind="openai",
        base_url=f"https://{name}.example.com/v1",
    )
    if secret:
        gateway.credential_set(actor=SYSTEM, provider=provider, secret=secret)
    return provider


@pytest.mark.parametrize("area", ["portal", "console"])
def test_providers_and_routes_offered_to_the_tenant_never_the_secret(
    world: World, make_staff: Callable[..., User], area: str
) -> None:
    shared = _provider(None, "msp-openai", SECRET + "msp")
    own = _provider(world.a, "acme-azure", SECRET)
    _provider(world.b, "globex-own", SECRET + "b")
    gateway.route_create(
        actor=SYSTEM,
        tenant=world.a,
        name="complex to azure",
        tier="complex",
        candidates=[
            {"provider_id": own.pk, "model": "gpt-4o"},
            {"provider_id": shared.pk, "model": "gpt-4o-mini"},
        ],
    )
    gateway.route_create(
        actor=SYSTEM, tenant=None, name="msp default", candidates=[{"provider_id": shared.pk}]
    )
    user = world.a_member if area == "portal" else make_staff("auditor")
    address = url(world) if area == "portal" else console_url(world)
    response = signed_in(user).get(address)
    body = response.content.decode()

    rows = {r.provider.name: r for r in response.context["providers"]}
    assert set(rows) == {"msp-openai", "acme-azure"}
    assert rows["msp-openai"].msp_wide and not rows["acme-azure"].msp_wide
    assert "globex-own" not in body and "globex-own.example.com" not in body
    assert "…" + SECRET[-4:] in body and "version 1, 0 days old" in body
    assert SECRET not in body and "very-secret" not in body
    assert "MSP-wide" in body and "https://acme-azure.example.com/v1" in body

    routes = {r.route.name: r.candidates for r in response.context["routes"]}
    assert routes == {
        "complex to azure": ["acme-azure/gpt-4o", "msp-openai/gpt-4o-mini"],
        "msp default": ["msp-openai/*"],
    }
    assert "<code>acme-azure/gpt-4o</code>" in body
    assert "/api/v1/" in body


def test_a_provider_without_credential_says_none(world: World) -> None:
    _provider(world.a, "acme-local")
    response = signed_in(world.a_member).get(url(world))
    [row] = response.context["providers"]
    assert row.credential is None
    assert '<span class="muted">none</span>' in response.content.decode()


def test_configuration_versions_are_the_tenants_last_twenty(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    with all_tenants_context():
        for version in range(1, 23):
            ConfigChange.unscoped.create(
                tenant=world.a,
                site=fleet_a.site,
                version=version,
                actor_kind="user",
                actor_label="ops@msp.example",
                summary=f"acme change {version:02d}",
                payload_sha256="0" * 64,
            )
        ConfigChange.unscoped.create(
            tenant=world.b,
            site=fleet_b.site,
            version=1,
            actor_kind="user",
            actor_label="b@globex.example",
            summary="globex change",
            payload_sha256="0" * 64,
        )
    response = signed_in(world.a_member).get(url(world))
    body = response.content.decode()
    assert len(response.context["changes"]) == 20
    assert "acme change 22" in body and "acme change 03" in body
    assert "acme change 02" not in body and "globex change" not in body
    assert fleet_a.site.name in body and "ops@msp.example" in body


def test_the_portal_navigation_has_the_gateway_page(world: World) -> None:
    response = signed_in(world.a_member).get(url(world))
    current = [i["label"] for i in response.context["nav_items"] if i["current"]]
    assert current == ["Gateway"]


# --- the tenant's own providers, API keys and routes -------------------------------------


def providers_of(tenant: object) -> dict[str, Provider]:
    """The tenant's own providers, by name."""
    with all_tenants_context():
        return {p.name: p for p in Provider.unscoped.filter(tenant=tenant)}


def routes_of(tenant: object) -> dict[str, Route]:
    with all_tenants_context():
        return {r.name: r for r in Route.unscoped.filter(tenant=tenant)}


def actions(tenant: object) -> list[str]:
    """The audited provider and route changes of ``tenant``, oldest first."""
    with all_tenants_context():
        return list(
            AuditEvent.objects.filter(tenant_id=getattr(tenant, "pk", None))
            .filter(Q(action__startswith="provider") | Q(action__startswith="route"))
            .order_by("seq")
            .values_list("action", flat=True)
        )


def new_provider(**fields: Any) -> dict[str, Any]:
    """The add-provider form's fields: an enabled OpenAI-compatible endpoint, unless told."""
    return {
        "name": "acme-azure",
        "kind": "openai",
        "base_url": "https://acme.openai.azure.com/openai/v1",
        "model_names": "gpt-4o\ngpt-4o-mini, o3-mini",
        "enabled": "on",
    } | fields


def new_route(*candidates: tuple[Provider, str], **fields: Any) -> dict[str, Any]:
    data = {
        "name": "complex first",
        "tier": "complex",
        "model": "*",
        "max_attempts": "3",
        "timeout_seconds": "45",
    } | fields
    for index, (provider, model) in enumerate(candidates, start=1):
        data[f"candidate_{index}_provider"] = str(provider.pk)
        data[f"candidate_{index}_model"] = model
    return data


def key(provider: Provider, secret: str) -> dict[str, str]:
    return {f"k{provider.pk.hex}-secret": secret}


def shown_messages(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def test_owner_adds_a_provider_sets_and_rotates_its_key_disables_and_deletes_it(
    world: World,
) -> None:
    client = signed_in(world.a_owner)
    added = client.post(url(world, "gateway_provider_create"), new_provider())
    provider = providers_of(world.a)["acme-azure"]
    assert added.status_code == 302
    assert added["Location"] == url(world) + f"#provider-{provider.pk}"
    assert provider.kind == "openai" and provider.enabled
    assert provider.model_names == ["gpt-4o", "gpt-4o-mini", "o3-mini"]
    assert provider.base_url == "https://acme.openai.azure.com/openai/v1"
    page = client.get(url(world))
    body = page.content.decode()
    assert "The provider acme-azure was added" in body and "Set API key" in body
    assert "<code>gpt-4o-mini</code>" in body

    first = client.post(url(world, "gateway_provider_key", provider.pk), key(provider, SECRET))
    assert first.status_code == 302
    page = client.get(url(world))
    assert shown_messages(page) == ["The API key of acme-azure was set: …9f3a, version 1."]
    assert "Rotate API key" in page.content.decode()

    rotated_secret = "sk-live-second-key-77c1"
    second = client.post(
        url(world, "gateway_provider_key", provider.pk), key(provider, rotated_secret), follow=True
    )
    [message] = shown_messages(second)
    assert message.startswith("The API key of acme-azure was rotated: now …77c1, version 2.")
    assert "…77c1" in second.content.decode() and "version 2" in second.content.decode()
    assert gateway.credential_secret(provider.pk) == rotated_secret

    disabled = client.post(
        url(world, "gateway_provider_enabled", provider.pk), {"enabled": "false"}, follow=True
    )
    assert not providers_of(world.a)["acme-azure"].enabled
    assert "acme-azure was disabled" in disabled.content.decode()
    client.post(url(world, "gateway_provider_enabled", provider.pk), {"enabled": "true"})
    assert providers_of(world.a)["acme-azure"].enabled

    deleted = client.post(url(world, "gateway_provider_delete", provider.pk), follow=True)
    assert "The provider acme-azure was deleted." in shown_messages(deleted)
    assert providers_of(world.a) == {}
    assert actions(world.a) == [
        "provider.created",
        "provider_credential.set",
        "provider_credential.rotated",
        "provider.updated",
        "provider.updated",
        "provider.deleted",
    ]


@pytest.mark.parametrize("area", ["portal", "console"])
def test_the_api_key_is_never_shown_and_is_stored_encrypted(
    world: World, make_staff: Callable[..., User], area: str
) -> None:
    provider = _provider(world.a, "acme-azure")
    client = signed_in(world.a_owner if area == "portal" else make_staff("operator"))
    address = url if area == "portal" else console_url
    bodies = []
    for secret in (SECRET, SECRET + "-rotated"):
        response = client.post(
            address(world, "gateway_provider_key", provider.pk), key(provider, secret), follow=True
        )
        assert response.redirect_chain[0][1] == 302
        bodies.append(response.content.decode())
        bodies.extend(shown_messages(response))
        assert gateway.credential_secret(provider.pk) == secret
    # An error (a space in the key) renders the form again, without the key.
    refused = client.post(
        address(world, "gateway_provider_key", provider.pk), key(provider, SECRET + " x")
    )
    assert refused.status_code == 200
    bodies.append(refused.content.decode())
    bodies.append(signed_in(world.a_owner).get(url(world, "audit")).content.decode())
    with all_tenants_context():
        bodies.extend(
            str(e) for e in AuditEvent.objects.values_list("before", "after", "target_label")
        )
    assert bodies and all(SECRET not in text and "very-secret" not in text for text in bodies)
    assert gateway.credential_secret(provider.pk) == SECRET + "-rotated"


def test_a_too_short_key_is_a_form_error_and_nothing_is_stored(world: World) -> None:
    provider = _provider(world.a, "acme-azure")
    response = signed_in(world.a_admin).post(
        url(world, "gateway_provider_key", provider.pk), key(provider, "short")
    )
    assert response.status_code == 200
    [row] = response.context["providers"]
    assert list(row.key_form.errors) == ["secret"]
    body = response.content.decode()
    assert "8+ characters" in body and 'role="alert"' in body
    assert 'value="short"' not in body and 'autocomplete="new-password"' in body
    assert gateway.credential_secret(provider.pk) is None
    assert "provider_credential.set" not in actions(world.a)


def test_invalid_providers_are_form_errors(world: World) -> None:
    client = signed_in(world.a_owner)
    bad_name = client.post(url(world, "gateway_provider_create"), new_provider(name="Acme Azure"))
    assert bad_name.status_code == 200
    assert list(bad_name.context["provider_form"].errors) == ["name"]
    _provider(None, "msp-openai")
    taken = client.post(url(world, "gateway_provider_create"), new_provider(name="msp-openai"))
    assert taken.status_code == 200
    assert "A provider with this name exists." in taken.content.decode()
    assert providers_of(world.a) == {}


def test_a_provider_a_route_uses_is_not_deleted(world: World) -> None:
    provider = _provider(world.a, "acme-azure")
    gateway.route_create(
        actor=SYSTEM, tenant=world.a, name="to azure", candidates=[{"provider_id": provider.pk}]
    )
    response = signed_in(world.a_owner).post(
        url(world, "gateway_provider_delete", provider.pk), follow=True
    )
    assert shown_messages(response) == [
        "acme-azure was not deleted: Routes still use this provider: to azure."
    ]
    assert "acme-azure" in providers_of(world.a)


def test_admin_adds_a_route_with_two_candidates_and_deletes_it(world: World) -> None:
    shared = _provider(None, "msp-openai")
    own = _provider(world.a, "acme-azure")
    client = signed_in(world.a_admin)
    form = client.get(url(world)).context["route_form"]
    offered = dict(form.fields["candidate_1_provider"].choices)
    assert offered == {"": "—", str(own.pk): "acme-azure", str(shared.pk): "msp-openai (MSP-wide)"}

    response = client.post(
        url(world, "gateway_route_create"), new_route((own, "gpt-4o"), (shared, "*"))
    )
    route = routes_of(world.a)["complex first"]
    assert response.status_code == 302
    assert response["Location"] == url(world) + f"#route-{route.pk}"
    assert (route.tier, route.model, route.max_attempts, route.timeout_seconds) == (
        "complex",
        "*",
        3,
        45,
    )
    assert route.candidates == [
        {"provider_id": str(own.pk), "model": "gpt-4o", "weight": 1},
        {"provider_id": str(shared.pk), "model": "*", "weight": 1},
    ]
    page = client.get(url(world))
    assert "The route complex first was added." in page.content.decode()
    rows = {r.route.name: r for r in page.context["routes"]}
    assert rows["complex first"].candidates == ["acme-azure/gpt-4o", "msp-openai/*"]

    deleted = client.post(url(world, "gateway_route_delete", route.pk), follow=True)
    assert "The route complex first was deleted." in shown_messages(deleted)
    assert routes_of(world.a) == {}
    assert actions(world.a)[-2:] == ["route.created", "route.deleted"]


def test_invalid_routes_are_form_errors_and_nothing_is_created(world: World) -> None:
    own = _provider(world.a, "acme-azure")
    theirs = _provider(world.b, "globex-own")
    client = signed_in(world.a_owner)

    none = client.post(url(world, "gateway_route_create"), new_route())
    assert none.status_code == 200
    assert "Choose at least one candidate provider." in none.content.decode()

    foreign = client.post(url(world, "gateway_route_create"), new_route((theirs, "*")))
    assert foreign.status_code == 200
    assert list(foreign.context["route_form"].errors) == ["candidate_1_provider"]
    assert "globex-own" not in foreign.content.decode()

    gateway.provider_update(actor=SYSTEM, provider=own, model_names=["gpt-4o"])
    unserved = client.post(url(world, "gateway_route_create"), new_route((own, "o3")))
    assert unserved.status_code == 200
    assert "acme-azure does not serve o3." in unserved.content.decode()

    client.post(url(world, "gateway_route_create"), new_route((own, "*")))
    duplicate = client.post(url(world, "gateway_route_create"), new_route((own, "*"), name="x"))
    assert duplicate.status_code == 200
    assert "Tier and Model already exists" in duplicate.content.decode()
    assert list(routes_of(world.a)) == ["complex first"]


def test_member_sees_providers_and_routes_without_forms_and_cannot_change_them(
    world: World,
) -> None:
    provider = _provider(world.a, "acme-azure", SECRET)
    route = gateway.route_create(
        actor=SYSTEM, tenant=world.a, name="to azure", candidates=[{"provider_id": provider.pk}]
    )
    client = signed_in(world.a_member)
    body = client.get(url(world)).content.decode()
    main = body.split('<main id="main"')[1].split("</main>")[0]
    assert "<form" not in main and "acme-azure" in main and "to azure" in main
    for label in ("Add provider", "Add route", "Rotate API key", "Disable", "Delete"):
        assert label not in main, label
    for name, args, data in (
        ("gateway_provider_create", (), new_provider(name="other")),
        ("gateway_provider_enabled", (provider.pk,), {"enabled": "false"}),
        ("gateway_provider_key", (provider.pk,), key(provider, SECRET + "-new")),
        ("gateway_provider_delete", (provider.pk,), {}),
        ("gateway_route_create", (), new_route((provider, "*"), name="other", tier="simple")),
        ("gateway_route_delete", (route.pk,), {}),
    ):
        assert client.post(url(world, name, *args), data).status_code == 403, name
    assert list(providers_of(world.a)) == ["acme-azure"] and list(routes_of(world.a)) == [
        "to azure"
    ]
    assert providers_of(world.a)["acme-azure"].enabled
    assert gateway.credential_secret(provider.pk) == SECRET


def test_outsiders_get_404_on_the_provider_and_route_forms(world: World) -> None:
    provider = _provider(world.a, "acme-azure")
    client = signed_in(world.b_owner)
    for name, args in (
        ("gateway_provider_create", ()),
        ("gateway_provider_key", (provider.pk,)),
        ("gateway_provider_delete", (provider.pk,)),
        ("gateway_route_create", ()),
    ):
        assert client.post(url(world, name, *args), new_provider()).status_code == 404, name
    assert list(providers_of(world.a)) == ["acme-azure"] and providers_of(world.b) == {}


@pytest.mark.parametrize("area", ["portal", "console"])
def test_msp_wide_and_other_tenants_rows_are_404_under_this_tenant(
    world: World, make_staff: Callable[..., User], area: str
) -> None:
    shared = _provider(None, "msp-openai", SECRET)
    theirs = _provider(world.b, "globex-own", SECRET + "b")
    shared_route = gateway.route_create(
        actor=SYSTEM, tenant=None, name="msp default", candidates=[{"provider_id": shared.pk}]
    )
    their_route = gateway.route_create(
        actor=SYSTEM, tenant=world.b, name="globex", candidates=[{"provider_id": theirs.pk}]
    )
    client = signed_in(world.a_owner if area == "portal" else make_staff("admin"))
    address = url if area == "portal" else console_url
    page = client.get(address(world))
    rows = {r.provider.name: r for r in page.context["providers"]}
    assert rows["msp-openai"].key_form is None and "Managed by the MSP" in page.content.decode()
    for provider in (shared, theirs):
        for name, data in (
            ("gateway_provider_enabled", {"enabled": "false"}),
            ("gateway_provider_key", key(provider, "sk-taken-over-1234")),
            ("gateway_provider_delete", {}),
        ):
            response = client.post(address(world, name, provider.pk), data)
            assert response.status_code == 404, (provider.name, name)
    for route in (shared_route, their_route):
        assert client.post(address(world, "gateway_route_delete", route.pk)).status_code == 404
    assert client.post(address(world, "gateway_provider_delete", uuid.uuid4())).status_code == 404
    with all_tenants_context():
        assert set(Provider.unscoped.values_list("name", "enabled")) == {
            ("msp-openai", True),
            ("globex-own", True),
        }
        assert Route.unscoped.count() == 2
    assert gateway.credential_secret(shared.pk) == SECRET
    assert gateway.credential_secret(theirs.pk) == SECRET + "b"


def test_console_writers_manage_the_tenants_providers_and_routes_read_only_staff_do_not(
    world: World, make_staff: Callable[..., User]
) -> None:
    auditor = signed_in(make_staff("auditor"))
    assert "Add provider" not in auditor.get(console_url(world)).content.decode()
    assert (
        auditor.post(console_url(world, "gateway_provider_create"), new_provider()).status_code
        == 403
    )

    operator = signed_in(make_staff("operator"))
    assert "Add provider" in operator.get(console_url(world)).content.decode()
    added = operator.post(console_url(world, "gateway_provider_create"), new_provider())
    assert added.status_code == 302
    provider = providers_of(world.a)["acme-azure"]
    assert added["Location"] == console_url(world) + f"#provider-{provider.pk}"
    assert (
        operator.post(
            console_url(world, "gateway_provider_key", provider.pk), key(provider, SECRET)
        ).status_code
        == 302
    )
    assert (
        operator.post(
            console_url(world, "gateway_route_create"), new_route((provider, "gpt-4o"))
        ).status_code
        == 302
    )
    route = routes_of(world.a)["complex first"]
    for name, args, data in (
        ("gateway_provider_enabled", (provider.pk,), {"enabled": "false"}),
        ("gateway_provider_key", (provider.pk,), key(provider, SECRET + "-new")),
        ("gateway_route_delete", (route.pk,), {}),
        ("gateway_provider_delete", (provider.pk,), {}),
    ):
        assert auditor.post(console_url(world, name, *args), data).status_code == 403, name
    assert operator.post(console_url(world, "gateway_route_delete", route.pk)).status_code == 302
    assert (
        operator.post(console_url(world, "gateway_provider_delete", provider.pk)).status_code == 302
    )
    assert providers_of(world.a) == {} and providers_of(world.b) == {}
    assert gateway.credential_secret(provider.pk) is None
    with tenant_context(world.a):
        events = AuditEvent.objects.filter(action="provider_credential.set")
        assert events.get().actor_label.startswith("staff-operator")


def test_the_portal_form_names_the_field_and_only_the_console_offers_on_premises(
    world: World,
    make_staff: Callable[..., User],
) -> None:
    portal = reverse("web:portal_gateway_provider_create", args=[world.a.slug])
    form = {
        "name": "acme-vllm",
        "kind": "openai",
        "base_url": "http://169.254.169.254/v1",
        "enabled": "on",
        "on_premises": "on",  # not a field of the portal's form: ignored
    }
    response = signed_in(world.a_owner).post(portal, form)
    assert response.status_code == 200
    errors = response.context["provider_form"].errors
    assert "cloud metadata" in errors["base_url"][0]
    assert "on_premises" not in response.context["provider_form"].fields
    private = signed_in(world.a_owner).post(portal, {**form, "base_url": "http://10.1.2.3/v1"})
    assert "a private address" in private.context["provider_form"].errors["base_url"][0]
    assert signed_in(world.b_owner).post(portal, form).status_code in (403, 404)
    console = reverse("web:console_gateway_provider_create", args=[world.a.slug])
    staff = signed_in(make_staff("admin"))
    page = staff.get(reverse("web:console_gateway", args=[world.a.slug]))
    assert "on_premises" in page.context["provider_form"].fields
    marked = staff.post(console, {**form, "base_url": "http://10.1.2.3/v1"})
    assert marked.status_code == 302
    provider = providers_of(world.a)["acme-vllm"]
    assert provider.on_premises and provider.base_url == "http://10.1.2.3/v1"
