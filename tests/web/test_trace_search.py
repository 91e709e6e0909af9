"""The trace explorer: searching the trace list, paging it, and bodies shown redacted
when the tenant's gateway policy says so.

chDB keeps its data for the whole test process, so every test uses fresh trace ids and
fresh tenants, and searches for words only its own spans contain.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from controlplane.agents.services import agent_create
from controlplane.gateway.services import policy_set
from controlplane.web.trace_views import LIST_LIMIT
from tenants.services import membership_set_departments
from tests.api.conftest import Api, issue_token
from tests.conftest import SYSTEM, signed_in
from tests.web.conftest import Fleet, World
from tests.web.telemetry import ingest, span

pytestmark = pytest.mark.django_db


def new_trace_id() -> str:
    return uuid.uuid4().hex


def listed(client: Client, world: World, **query: str) -> list[str]:
    response = client.get(reverse("web:portal_traces", args=[world.a.slug]), query)
    assert response.status_code == 200
    assert response.context["form"].is_valid(), response.context["form"].errors
    return [row.trace_id for row in response.context["rows"]]


def one_span(fleet: Fleet, trace_id: str, start: dt.datetime, **fields: Any) -> bytes:
    return span(fleet, trace_id=trace_id, span_id=uuid.uuid4().hex[:16], start=start, **fields)


def a_run(fleet: Fleet, trace_id: str, start: dt.datetime, **model_fields: Any) -> None:
    """A run (step) with one model call under it; ``model_fields`` shape the model call."""
    fields: dict[str, Any] = {
        "kind": "model",
        "name": "chat",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "input_tokens": 100,
        "output_tokens": 10,
    }
    ingest(
        [
            span(fleet, trace_id=trace_id, span_id="a" * 16, start=start, name="agent run"),
            span(
                fleet,
                trace_id=trace_id,
                span_id="b" * 16,
                parent_span_id="a" * 16,
                start=start + dt.timedelta(milliseconds=10),
                **(fields | model_fields),
            ),
        ]
    )


# --- filters ----------------------------------------------------------------------------------


def test_each_filter_narrows_the_list(world: World, fleet_a: Fleet) -> None:
    now = timezone.now()
    finance = str(world.a_department.pk)
    plain, in_finance, on_claude, with_tool = (new_trace_id() for _ in range(4))
    a_run(fleet_a, plain, now - dt.timedelta(minutes=4))
    a_run(fleet_a, in_finance, now - dt.timedelta(minutes=3), department_id=finance)
    a_run(
        fleet_a,
        on_claude,
        now - dt.timedelta(minutes=2),
        provider="anthropic",
        model="claude-sonnet-4",
    )
    a_run(
        fleet_a,
        with_tool,
        now - dt.timedelta(minutes=1),
        kind="tool",
        provider="",
        model="",
        tool="erp.lookup",
    )
    client = signed_in(world.a_member)

    assert listed(client, world) == [with_tool, on_claude, in_finance, plain]
    assert listed(client, world, department=finance) == [in_finance]
    assert listed(client, world, provider="anthropic") == [on_claude]
    assert listed(client, world, provider="openai") == [in_finance, plain]
    assert listed(client, world, model="claude-sonnet-4") == [on_claude]
    assert listed(client, world, model="gpt-4o-mini", department=finance) == [in_finance]
    assert listed(client, world, tool="erp.lookup") == [with_tool]
    assert listed(client, world, tool="erp.lookup", provider="anthropic") == []
    assert listed(client, world, agent=str(fleet_a.agent.pk), range="1h") == [
        with_tool,
        on_claude,
        in_finance,
        plain,
    ]


def test_a_trace_matches_when_any_span_matches_and_shows_its_whole_totals(
    world: World, fleet_a: Fleet
) -> None:
    helper = agent_create(actor=SYSTEM, tenant=world.a, name="helper", device=fleet_a.device)
    trace_id = new_trace_id()
    start = timezone.now() - dt.timedelta(minutes=1)
    ingest(
        [
            one_span(fleet_a, trace_id, start, name="agent run"),
            one_span(
                fleet_a,
                trace_id,
                start + dt.timedelta(milliseconds=5),
                kind="model",
                provider="openai",
                model="gpt-4o-mini",
                input_tokens=700,
                output_tokens=70,
            ),
            one_span(
                fleet_a,
                trace_id,
                start + dt.timedelta(milliseconds=9),
                kind="tool",
                tool="crm.search",
                agent_id=str(helper.pk),
            ),
        ]
    )
    response = signed_in(world.a_member).get(
        reverse("web:portal_traces", args=[world.a.slug]),
        {"agent": str(helper.pk), "model": "gpt-4o-mini"},
    )
    [row] = response.context["rows"]
    assert row.trace_id == trace_id
    assert (row.spans, row.input_tokens, row.output_tokens) == (3, 700, 70)
    assert row.agent_name == fleet_a.agent.name  # the agent of the first span


def test_a_trace_refused_by_the_gateway_shows_and_filters_as_refused(
    world: World, fleet_a: Fleet
) -> None:
    now = timezone.now()
    refused, refused_then_failed = new_trace_id(), new_trace_id()
    a_run(fleet_a, refused, now - dt.timedelta(minutes=2), status="refused", output_tokens=0)
    a_run(fleet_a, refused_then_failed, now - dt.timedelta(minutes=1), status="refused")
    ingest(
        [
            one_span(
                fleet_a,
                refused_then_failed,
                now - dt.timedelta(seconds=50),
                kind="tool",
                tool="crm.search",
                status="error",
            )
        ]
    )
    client = signed_in(world.a_member)

    assert listed(client, world, status="refused") == [refused]
    assert listed(client, world, status="error") == [refused_then_failed]
    detail = client.get(reverse("web:portal_trace", args=[world.a.slug, refused]))
    assert detail.context["trace"].status == "refused"
    assert b'badge-span-refused">refused</span>' in detail.content
    api = Api(issue_token(world.a_member))
    rows = api.get(f"tenants/{world.a.slug}/traces", status="refused").json()["results"]
    assert [(row["trace_id"], row["status"]) for row in rows] == [(refused, "refused")]


def test_free_text_finds_bodies_and_status_messages_in_any_case(
    world: World, fleet_a: Fleet
) -> None:
    now = timezone.now()
    by_request, by_response, by_message, by_name, other = (new_trace_id() for _ in range(5))
    request = json.dumps({"messages": [{"role": "user", "content": "Where is Invoice Q-8812?"}]})
    a_run(fleet_a, by_request, now - dt.timedelta(minutes=5), request_body=request)
    a_run(fleet_a, by_response, now - dt.timedelta(minutes=4), response_body="Paid: q-8812 ok")
    a_run(
        fleet_a,
        by_message,
        now - dt.timedelta(minutes=3),
        status="error",
        status_message="Vendor ZX-Gateway answered 503",
    )
    a_run(fleet_a, by_name, now - dt.timedelta(minutes=2), name="summarise zx-gateway logs")
    a_run(fleet_a, other, now - dt.timedelta(minutes=1), request_body="nothing to see")
    client = signed_in(world.a_member)

    assert listed(client, world, q="invoice q-8812") == [by_request]
    assert listed(client, world, q="Q-8812") == [by_response, by_request]
    assert listed(client, world, q="zx-gateway answered") == [by_message]
    assert listed(client, world, q="zx-GATEWAY") == [by_name, by_message]
    assert listed(client, world, q="zx-gateway", status="error") == [by_message]
    assert listed(client, world, q="q-8812 nowhere") == []
    # the search box keeps what was searched: the URL is the search
    response = client.get(reverse("web:portal_traces", args=[world.a.slug]), {"q": "Q-8812"})
    assert 'value="Q-8812"' in response.content.decode()


@pytest.mark.parametrize(
    "needle",
    ["100%", "50_off", "it's", 'say "hi"', "back\\slash", "'; DROP TABLE spans; --", "{q:String}"],
)
def test_free_text_is_literal(world: World, fleet_a: Fleet, needle: str) -> None:
    """Quotes, LIKE wildcards and backslashes are searched for as they are."""
    now = timezone.now()
    marker = uuid.uuid4().hex[:10]
    wanted, lookalike = new_trace_id(), new_trace_id()
    a_run(fleet_a, wanted, now - dt.timedelta(minutes=2), request_body=f"{marker} {needle} end")
    # Would match if % or _ were wildcards or the backslash an escape.
    lookalikes = f"{marker} 1000 | {marker} 50Xoff | {marker} backslash"
    a_run(fleet_a, lookalike, now - dt.timedelta(minutes=1), request_body=lookalikes)
    client = signed_in(world.a_member)
    assert listed(client, world, q=f"{marker} {needle}") == [wanted]
    assert listed(client, world, q=marker) == [lookalike, wanted]


def test_another_tenants_matching_traces_never_show(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    now = timezone.now()
    word = f"secret-{uuid.uuid4().hex[:8]}"
    mine, theirs = new_trace_id(), new_trace_id()
    a_run(fleet_a, mine, now - dt.timedelta(minutes=2), response_body=f"{word} for acme")
    a_run(fleet_b, theirs, now - dt.timedelta(minutes=1), response_body=f"{word} for globex")
    a_run(fleet_b, mine, now - dt.timedelta(minutes=1), response_body=f"{word} globex twin")
    client = signed_in(world.a_owner)
    assert listed(client, world, q=word) == [mine]
    assert listed(client, world, q="globex", range="1h") == []
    response = client.get(reverse("web:portal_traces", args=[world.a.slug]), {"q": word})
    [row] = response.context["rows"]
    assert row.spans == 2  # only acme's spans of the shared trace id
    # the other tenant's department is not a choice
    bad = client.get(
        reverse("web:portal_traces", args=[world.a.slug]),
        {"department": str(world.b_department.pk)},
    )
    assert bad.context["rows"] == [] and not bad.context["form"].is_valid()


@pytest.mark.parametrize(
    "query",
    [
        {"department": "not-a-uuid"},
        {"department": str(uuid.uuid4())},
        {"status": "exploded"},
        {"range": "5y"},
        {"q": "x" * 201},
        {"q": "line\nbreak"},
        {"provider": "a\x00b"},
        {"model": "m" * 201},
        {"before": "yesterday", "before_trace": "0" * 32},
        {"before": "2026-01-01T00:00:00+00:00", "before_trace": "not hex"},
        {"before": "2026-01-01T00:00:00+00:00"},
    ],
)
def test_bad_filter_values_are_form_errors(world: World, query: dict[str, str]) -> None:
    response = signed_in(world.a_member).get(
        reverse("web:portal_traces", args=[world.a.slug]), query
    )
    assert response.status_code == 200
    assert not response.context["form"].is_valid()
    assert response.context["rows"] == []
    body = response.content.decode()
    assert 'class="field-error"' in body or 'class="form-errors"' in body


def test_older_link_pages_through_every_trace_once(world: World, fleet_a: Fleet) -> None:
    start = timezone.now() - dt.timedelta(minutes=30)
    marker = f"page-{uuid.uuid4().hex[:8]}"
    ids = [new_trace_id() for _ in range(LIST_LIMIT + 2)]
    starts = [start - dt.timedelta(seconds=i) for i in range(len(ids))]
    starts[LIST_LIMIT] = starts[LIST_LIMIT - 1]  # a tie across the page boundary
    ingest(
        [
            one_span(fleet_a, trace_id, moment, request_body=marker)
            for trace_id, moment in zip(ids, starts, strict=True)
        ]
    )
    client = signed_in(world.a_member)
    first = client.get(reverse("web:portal_traces", args=[world.a.slug]), {"q": marker})
    assert len(first.context["rows"]) == LIST_LIMIT
    older = first.context["older_url"]
    assert older and "Older traces" in first.content.decode()
    assert parse_qs(urlsplit(older).query)["q"] == [marker]  # the search is kept
    second = client.get(older)
    assert second.context["paged"] and not second.context["older_url"]
    seen = [row.trace_id for row in first.context["rows"] + second.context["rows"]]
    assert len(seen) == len(set(seen)) == len(ids)
    assert set(seen) == set(ids)
    newest = client.get(second.context["newest_url"])
    assert [r.trace_id for r in newest.context["rows"]] == seen[:LIST_LIMIT]


def test_chart_window_is_kept_when_searching(world: World, fleet_a: Fleet) -> None:
    now = timezone.now().replace(microsecond=0)
    early = new_trace_id()
    a_run(fleet_a, early, now - dt.timedelta(hours=30), response_body="window-word")
    window = {
        "since": (now - dt.timedelta(hours=31)).isoformat(),
        "until": (now - dt.timedelta(hours=29)).isoformat(),
    }
    client = signed_in(world.a_member)
    response = client.get(reverse("web:portal_traces", args=[world.a.slug]), window)
    body = response.content.decode()
    assert 'name="since"' in body and 'name="until"' in body  # hidden in the search form
    assert listed(client, world, q="window-word", **window) == [early]
    assert listed(client, world, q="window-word") == []  # outside the last 24 hours
    reversed_window = {"since": window["until"], "until": window["since"]}
    ignored = client.get(reverse("web:portal_traces", args=[world.a.slug]), reversed_window)
    assert "were not understood" in ignored.content.decode()


# --- dashboards link here ---------------------------------------------------------------------


def test_dashboard_chart_points_carry_the_dashboard_filters(world: World, fleet_a: Fleet) -> None:
    start = (timezone.now() - dt.timedelta(minutes=5)).replace(second=5)
    on_claude, on_openai = new_trace_id(), new_trace_id()
    a_run(fleet_a, on_claude, start, provider="anthropic", model="claude-sonnet-4")
    a_run(fleet_a, on_openai, start + dt.timedelta(seconds=1))
    client = signed_in(world.a_member)

    def link_of_start(**filters: str) -> str:
        response = client.get(
            reverse("web:portal_dashboards", args=[world.a.slug]), {"range": "1h", **filters}
        )
        panels = {p["name"]: p["data"] for p in response.context["panels"]}
        for link in panels["utilization"]["requests_chart"]["links"]:
            query = parse_qs(urlsplit(link).query)
            since = dt.datetime.fromisoformat(query["since"][0])
            if since <= start < dt.datetime.fromisoformat(query["until"][0]):
                return str(link)
        raise AssertionError("no bucket holds the spans")

    link = link_of_start(provider="anthropic", model="claude-sonnet-4")
    query = parse_qs(urlsplit(link).query)
    assert (query["provider"], query["model"]) == (["anthropic"], ["claude-sonnet-4"])
    assert [row.trace_id for row in client.get(link).context["rows"]] == [on_claude]
    department = str(world.a_department.pk)
    assert parse_qs(urlsplit(link_of_start(department=department)).query)["department"] == [
        department
    ]


# --- redaction --------------------------------------------------------------------------------

PERSONAL = json.dumps(
    {
        "messages": [
            {"role": "user", "content": "Pay jane.doe@example.com, DE89 3704 0044 0532 0130 00"}
        ]
    }
)


@pytest.mark.parametrize("pii", ["redact", "block"])
def test_bodies_are_shown_redacted_when_the_policy_redacts(
    world: World, fleet_a: Fleet, pii: str
) -> None:
    policy_set(actor=SYSTEM, tenant=world.a, pii=pii)
    trace_id = new_trace_id()
    a_run(
        fleet_a,
        trace_id,
        timezone.now() - dt.timedelta(minutes=1),
        request_body=PERSONAL,
        response_body="Sent to jane.doe@example.com",
        status="error",
        status_message="bounce from jane.doe@example.com",
        attributes={"user.email": "jane.doe@example.com"},
    )
    response = signed_in(world.a_member).get(
        reverse("web:portal_trace", args=[world.a.slug, trace_id])
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "jane.doe@example.com" not in body and "DE89 3704" not in body
    assert "Pay [EMAIL], [IBAN]" in body
    assert "Sent to [EMAIL]" in body and "bounce from [EMAIL]" in body
    assert "shown redacted, as this tenant's gateway policy" in body


def test_bodies_are_shown_as_stored_when_the_policy_only_flags(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    policy_set(actor=SYSTEM, tenant=world.a, pii="flag")
    policy_set(actor=SYSTEM, tenant=world.b, pii="redact")  # another tenant's policy
    trace_id = new_trace_id()
    a_run(fleet_a, trace_id, timezone.now(), request_body=PERSONAL)
    response = signed_in(world.a_member).get(
        reverse("web:portal_trace", args=[world.a.slug, trace_id])
    )
    body = response.content.decode()
    assert "jane.doe@example.com" in body and "DE89 3704 0044 0532 0130 00" in body
    assert "[EMAIL]" not in body and "gateway policy" not in body


def test_policy_types_limit_what_is_redacted(world: World, fleet_a: Fleet) -> None:
    policy_set(actor=SYSTEM, tenant=world.a, pii="redact", pii_types=["iban"])
    trace_id = new_trace_id()
    a_run(fleet_a, trace_id, timezone.now(), request_body=PERSONAL)
    body = (
        signed_in(world.a_member)
        .get(reverse("web:portal_trace", args=[world.a.slug, trace_id]))
        .content.decode()
    )
    assert "Pay jane.doe@example.com, [IBAN]" in body


def test_the_api_gives_bodies_redacted_too(world: World, fleet_a: Fleet) -> None:
    policy_set(actor=SYSTEM, tenant=world.a, pii="redact")
    trace_id = new_trace_id()
    a_run(
        fleet_a,
        trace_id,
        timezone.now(),
        request_body=PERSONAL,
        attributes={"user.email": "jane.doe@example.com"},
    )
    api = Api(issue_token(world.a_member))
    spans = api.get(f"tenants/{world.a.slug}/traces/{trace_id}").json()["spans"]
    model = next(s for s in spans if s["kind"] == "model")
    assert "Pay [EMAIL], [IBAN]" in model["request_body"]
    assert model["attributes"] == {"user.email": "[EMAIL]"}


def test_search_does_not_find_what_redaction_hides(
    world: World, fleet_a: Fleet, fleet_b: Fleet
) -> None:
    policy_set(actor=SYSTEM, tenant=world.a, pii="redact")
    policy_set(actor=SYSTEM, tenant=world.b, pii="flag")
    now = timezone.now()
    mine, theirs = new_trace_id(), new_trace_id()
    a_run(fleet_a, mine, now - dt.timedelta(minutes=1), request_body=PERSONAL)
    client = signed_in(world.a_member)

    assert listed(client, world, q="jane.doe@example.com") == []
    assert listed(client, world, q="jane.doe@") == []
    assert listed(client, world, q="pay jane") == []
    assert listed(client, world, q="pay") == [mine]
    assert listed(client, world, q="DE89") == []
    api = Api(issue_token(world.a_member))
    assert api.get(f"tenants/{world.a.slug}/traces", q="jane.doe").json()["results"] == []
    # A tenant whose policy only flags finds its stored text.
    a_run(fleet_b, theirs, now - dt.timedelta(minutes=1), request_body=PERSONAL)
    api_b = Api(issue_token(world.b_member))
    found = api_b.get(f"tenants/{world.b.slug}/traces", q="jane.doe").json()["results"]
    assert [row["trace_id"] for row in found] == [theirs]


def test_a_department_scoped_member_does_not_find_text_of_other_departments(
    world: World, fleet_a: Fleet
) -> None:
    helper = agent_create(actor=SYSTEM, tenant=world.a, name="helper", device=fleet_a.device)
    finance = str(world.a_department.pk)
    trace_id = new_trace_id()
    now = timezone.now()
    a_run(fleet_a, trace_id, now - dt.timedelta(minutes=1), department_id=finance)
    ingest(  # a span of the same trace by an agent of no department
        [
            one_span(
                fleet_a,
                trace_id,
                now - dt.timedelta(seconds=50),
                agent_id=str(helper.pk),
                status_message="quarterly-layoff-plan",
            )
        ]
    )
    membership_set_departments(
        actor=SYSTEM, membership=world.membership(world.a_member), departments=[world.a_department]
    )
    client = signed_in(world.a_member)

    assert listed(client, world, q="chat") == [trace_id]
    assert listed(client, world, q="quarterly-layoff-plan") == []
    assert listed(signed_in(world.a_owner), world, q="quarterly-layoff-plan") == [trace_id]


def test_a_department_scoped_member_sees_only_their_departments_traces(
    world: World, fleet_a: Fleet
) -> None:
    now = timezone.now()
    finance = str(world.a_department.pk)
    theirs, elsewhere = new_trace_id(), new_trace_id()
    a_run(fleet_a, theirs, now - dt.timedelta(minutes=2), department_id=finance)
    a_run(fleet_a, elsewhere, now - dt.timedelta(minutes=1))
    membership = world.membership(world.a_member)
    membership_set_departments(
        actor=SYSTEM, membership=membership, departments=[world.a_department]
    )
    client = signed_in(world.a_member)

    assert listed(client, world) == [theirs]
    assert listed(client, world, q="chat") == [theirs]
    detail = reverse("web:portal_trace", args=[world.a.slug, elsewhere])
    assert client.get(detail).status_code == 404
    assert client.get(reverse("web:portal_trace", args=[world.a.slug, theirs])).status_code == 200
    # The whole tenant again for everyone else, and once the limit is lifted.
    assert listed(signed_in(world.a_owner), world) == [elsewhere, theirs]
    membership_set_departments(actor=SYSTEM, membership=membership, departments=[])
    assert listed(client, world) == [elsewhere, theirs]
