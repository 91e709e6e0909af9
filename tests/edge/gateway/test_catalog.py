"""The gateway sections of the bundle: parsed into values, or refused naming the field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from edge.config import ConfigError, parse_config
from edge.gateway.catalog import Budget, OperatingWindow, PriceTable, parse_gateway
from tests.edge.conftest import AGENT, OTHER_TENANT, TENANT

from .conftest import gateway_doc, provider


def doc() -> dict[str, Any]:
    return gateway_doc(
        providers=[
            provider("sim-a", "http://127.0.0.1:1"),
            provider("anth", "http://x", "anthropic"),
        ],
        budgets=[
            {
                "budget_id": "b-agent",
                "tenant_id": TENANT,
                "scope": "agent",
                "scope_id": AGENT,
                "period": "month",
                "period_start": "2026-01-31T00:00:00Z",
                "limit": "100.00",
                "kind": "hard",
                "allowance": "40.00",
            }
        ],
    )


def test_a_whole_bundle_parses() -> None:
    config = parse_config(doc())
    gateway = config.gateway
    agent = gateway.agents[AGENT]
    assert (agent.role, agent.tier, agent.data_classes) == (
        "marketing",
        "standard",
        frozenset({"public", "pii"}),
    )
    assert gateway.policies[TENANT].tool_data_classes["ledger.query"] == frozenset({"finance"})
    assert gateway.providers["anth"].kind == "anthropic"
    assert gateway.routes[0].candidates[0].provider_id == "sim-a"
    price = gateway.prices.at("openai", "gpt-4o-mini", datetime(2026, 6, 1, tzinfo=UTC))
    assert price is not None and price.input_per_million == Decimal("0.15")
    (budget,) = gateway.budgets
    assert budget.allowance == Decimal("40.00")
    assert budget.period_end == datetime(2026, 2, 28, tzinfo=UTC), "month end is clamped"


def test_a_plain_v1_document_has_an_empty_gateway() -> None:
    from tests.edge.conftest import config_doc

    gateway = parse_config(config_doc()).gateway
    assert (gateway.agents, gateway.routes, gateway.budgets) == ({}, (), ())


def _broken(path: str, value: Any) -> dict[str, Any]:
    broken = copy.deepcopy(doc())
    keys: list[Any] = [int(part) if part.isdigit() else part for part in path.split(".")]
    target: Any = broken
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    return broken


@pytest.mark.parametrize(
    ("document", "field"),
    [
        (_broken("agents.0.tier", "huge"), "agents[0].tier"),
        (_broken("agents.0.agent_id", "bob"), "agents[0].agent_id"),
        (_broken("agents.0.data_classes", "pii"), "agents[0].data_classes"),
        (_broken("agents.0.operating_window", {"tz": "Mars/Olympus"}), "operating_window.tz"),
        (_broken("agents.0.operating_window", {"start": "8am"}), "operating_window.start"),
        (_broken("agents.0.operating_window", {"days": [7]}), "operating_window.days"),
        (_broken("agents.0.tenant_id", OTHER_TENANT), "agent_keys[0].tenant_id"),
        (_broken("policies.0.injection", "maybe"), "policies[0].injection"),
        (_broken("policies.0.pii", "mask"), "policies[0].pii"),
        (_broken("providers.0.kind", "gemini"), "providers[0].kind"),
        (_broken("providers.0.base_url", "ftp://x"), "providers[0].base_url"),
        (_broken("providers.1.provider_id", "sim-a"), "providers[1].provider_id"),
        (_broken("routes.0.candidates", []), "routes[0].candidates"),
        (_broken("routes.0.candidates.0.provider_id", "nope"), "routes[0].candidates[0]"),
        (_broken("routes.0.candidates.0.weight", -1), "routes[0].candidates[0].weight"),
        (_broken("routes.0.max_attempts", 0), "routes[0].max_attempts"),
        (_broken("prices.0.input_per_million", 0.15), "prices[0].input_per_million"),
        (_broken("prices.0.input_per_million", "-1"), "prices[0].input_per_million"),
        (_broken("prices.0.effective_from", "2026-01-01"), "prices[0].effective_from"),
        (_broken("budgets.0.allowance", "lots"), "budgets[0].allowance"),
        (_broken("budgets.0.scope", "site"), "budgets[0].scope"),
        (_broken("budgets", {}), "budgets must be an array"),
    ],
)
def test_an_invalid_section_is_refused_naming_the_field(document: Any, field: str) -> None:
    with pytest.raises(ConfigError, match=field.replace("[", r"\[").replace("]", r"\]")):
        parse_config(document)


def test_a_shared_route_cannot_use_a_tenants_provider() -> None:
    document = doc()
    document["providers"][0]["tenant_id"] = TENANT
    with pytest.raises(ConfigError, match=r"routes\[0\].candidates\[0\].*another tenant"):
        parse_config(document)
    document["routes"][0]["tenant_id"] = TENANT
    assert parse_config(document).gateway.routes[0].tenant_id == TENANT


def test_provider_secrets_are_decrypted_or_marked_unusable() -> None:
    document = doc()
    document["providers"][0]["api_key_enc"] = "token-a"
    document["providers"][1]["api_key_enc"] = "token-b"
    secrets = {"token-a": "sk-live"}
    gateway = parse_gateway(document, secrets.get)
    assert gateway.providers["sim-a"].api_key == "sk-live"
    assert not gateway.providers["sim-a"].key_unavailable
    assert gateway.providers["anth"].key_unavailable
    assert "sk-live" not in repr(gateway.providers["sim-a"])


@pytest.mark.parametrize(
    ("window", "moment", "inside"),
    [
        # Europe/Berlin is UTC+1 in November: 07:30 UTC is 08:30 there.
        ({"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}, "2026-11-25T07:30Z", True),
        ({"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}, "2026-11-25T06:30Z", False),
        ({"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}, "2026-11-25T17:00Z", False),
        ({"days": [0, 1, 2, 3, 4], "start": "08:00", "end": "18:00"}, "2026-11-28T10:00Z", False),
        # Overnight shift Monday 22:00 → Tuesday 06:00 belongs to Monday.
        ({"days": [0], "start": "22:00", "end": "06:00"}, "2026-11-23T22:30Z", True),
        ({"days": [0], "start": "22:00", "end": "06:00"}, "2026-11-24T03:00Z", True),
        ({"days": [0], "start": "22:00", "end": "06:00"}, "2026-11-25T03:00Z", False),
        ({"days": [5], "start": "00:00", "end": "24:00"}, "2026-11-28T22:59Z", True),
    ],
)
def test_operating_windows_in_their_time_zone(
    window: dict[str, Any], moment: str, inside: bool
) -> None:
    document = doc()
    document["agents"][0]["operating_window"] = {**window, "tz": "Europe/Berlin"}
    parsed = parse_gateway(document).agents[AGENT].operating_window
    assert isinstance(parsed, OperatingWindow)
    assert parsed.contains(datetime.fromisoformat(moment)) is inside


def test_prices_are_effective_dated() -> None:
    document = doc()
    document["prices"].append(
        {
            **document["prices"][0],
            "input_per_million": "0.10",
            "effective_from": "2026-07-01T00:00:00Z",
        }
    )
    prices = parse_gateway(document).prices
    assert isinstance(prices, PriceTable)
    before = prices.at("openai", "gpt-4o-mini", datetime(2026, 6, 30, tzinfo=UTC))
    after = prices.at("openai", "gpt-4o-mini", datetime(2026, 7, 1, tzinfo=UTC))
    assert before is not None and after is not None
    assert (before.input_per_million, after.input_per_million) == (Decimal("0.15"), Decimal("0.10"))
    assert prices.at("openai", "gpt-4o-mini", datetime(2025, 1, 1, tzinfo=UTC)) is None


def test_budget_periods() -> None:
    def budget(period: str, start: str) -> Budget:
        return Budget(
            "b",
            TENANT,
            "tenant",
            TENANT,
            period,
            datetime.fromisoformat(start),
            Decimal(1),
            "hard",
            Decimal(1),
        )

    assert budget("day", "2026-11-26T00:00:00+00:00").period_end == datetime(
        2026, 11, 27, tzinfo=UTC
    )
    assert budget("month", "2026-12-01T00:00:00+00:00").period_end == datetime(
        2027, 1, 1, tzinfo=UTC
    )
    assert budget("day", "2026-11-26T00:00:00+00:00").key == ("b", "2026-11-26T00:00:00+00:00")


def test_an_endpoint_is_priced_by_its_name_then_its_vendor() -> None:
    document = doc()
    document["providers"][0]["name"] = "azure-eu"
    document["prices"].append(
        {**document["prices"][0], "provider": "azure-eu", "input_per_million": "0.20"}
    )
    gateway = parse_gateway(document)
    when = datetime(2026, 6, 1, tzinfo=UTC)
    azure, anthropic = gateway.providers["sim-a"], gateway.providers["anth"]
    assert azure.price_keys == ("azure-eu", "openai") and anthropic.price_keys == ("anthropic",)
    own = gateway.prices.for_provider(azure, "gpt-4o-mini", when)
    assert own is not None and (own.provider, own.input_per_million) == (
        "azure-eu",
        Decimal("0.20"),
    )
    listed = gateway.prices.for_provider(anthropic, "claude-haiku-4-5", when)
    assert listed is not None and listed.provider == "anthropic"
    assert gateway.prices.for_provider(azure, "gpt-4o", when) is None
