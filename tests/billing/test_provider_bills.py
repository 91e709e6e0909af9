"""Reconciliation against the providers' own exports: each day, model and token class
compared with the ledger, differences flagged with their likely cause."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import timezone

from billing.provider_bills import export_import, flagged, parse_export, provider_reconcile
from controlplane.accounts.models import User
from tenants.models import Tenant
from tests.billing.conftest import record_usage
from tests.conftest import signed_in

pytestmark = pytest.mark.django_db

NOV_3 = dt.date(2026, 11, 3)
NOV_3_NOON = dt.datetime(2026, 11, 3, 12, tzinfo=dt.UTC)
UNIX_NOV_3 = int(dt.datetime(2026, 11, 3, tzinfo=dt.UTC).timestamp())


def _openai_usage(input_tokens: int, cached: int, output: int) -> str:
    return json.dumps(
        {
            "object": "page",
            "data": [
                {
                    "object": "bucket",
                    "start_time": UNIX_NOV_3,
                    "end_time": UNIX_NOV_3 + 86400,
                    "results": [
                        {
                            "object": "organization.usage.completions.result",
                            "model": "gpt-4o-mini-2024-07-18",
                            "input_tokens": input_tokens,
                            "input_cached_tokens": cached,
                            "output_tokens": output,
                            "num_model_requests": 3,
                        }
                    ],
                }
            ],
        }
    )


def _openai_costs(lines: dict[str, str]) -> str:
    return json.dumps(
        {
            "data": [
                {
                    "start_time": UNIX_NOV_3,
                    "results": [
                        {
                            "object": "organization.costs.result",
                            "amount": {"value": value, "currency": "usd"},
                            "line_item": f"gpt-4o-mini-2024-07-18, {item}",
                        }
                        for item, value in lines.items()
                    ],
                }
            ]
        }
    )


def _compare() -> dict[str, tuple[int | None, int, str]]:
    findings = provider_reconcile(
        provider="openai", since=NOV_3, until=NOV_3 + dt.timedelta(days=1)
    )
    return {f.token_class: (f.provider_tokens, f.ledger_tokens, f.cause) for f in findings}


def test_a_matching_bill_flags_nothing(tenant_a: Tenant, tenant_b: Tenant, prices: None) -> None:
    # Two tenants on the MSP's one OpenAI account: the bill covers both.
    record_usage(
        tenant_a,
        NOV_3_NOON,
        input_tokens=600_000,
        output_tokens=50_000,
        cached_input_tokens=200_000,
    )
    record_usage(tenant_b, NOV_3_NOON, input_tokens=400_000, output_tokens=50_000)
    export_import(
        provider="openai",
        kind="openai-usage",
        content=_openai_usage(1_000_000, 200_000, 100_000),
        source="usage.json",
    )
    # 800k x 0.15 = 0.12, 200k x 0.075 = 0.015, 100k x 0.60 = 0.06
    export_import(
        provider="openai",
        kind="openai-costs",
        source="costs.json",
        content=_openai_costs({"input": "0.12", "cached input": "0.015", "output": "0.06"}),
    )
    assert _compare() == {
        "input": (800_000, 800_000, ""),
        "cached_input": (200_000, 200_000, ""),
        "output": (100_000, 100_000, ""),
    }


def test_differences_are_flagged_with_their_likely_cause(tenant_a: Tenant, prices: None) -> None:
    record_usage(tenant_a, NOV_3_NOON, input_tokens=1_000_000, output_tokens=100_000)
    # The provider saw 300k of the prompt tokens as cached (we counted all as plain),
    # and charged more for output than our price table says.
    export_import(
        provider="openai",
        kind="openai-usage",
        content=_openai_usage(1_000_000, 300_000, 100_000),
        source="usage.json",
    )
    export_import(
        provider="openai",
        kind="openai-costs",
        source="costs.json",
        content=_openai_costs({"output": "0.09"}),
    )
    assert _compare() == {
        "input": (700_000, 1_000_000, "formula"),
        "cached_input": (300_000, 0, "formula"),
        "output": (100_000, 100_000, "price table"),
    }
    # The same export again: the same lines, not twice as many tokens.
    export_import(
        provider="openai",
        kind="openai-usage",
        content=_openai_usage(5_000_000, 300_000, 100_000),
        source="usage-v2.json",
    )
    causes = {
        f.token_class: f.cause
        for f in flagged(
            provider_reconcile(provider="openai", since=NOV_3, until=NOV_3 + dt.timedelta(days=1))
        )
    }
    assert causes["input"] == "missing ingestion"


def test_anthropic_exports_and_csv_are_read_per_class() -> None:
    usage = {
        "data": [
            {
                "starting_at": "2026-11-03T00:00:00Z",
                "results": [
                    {
                        "model": "claude-sonnet-4-20250514",
                        "uncached_input_tokens": 10,
                        "cache_read_input_tokens": 200,
                        "cache_creation": {
                            "ephemeral_5m_input_tokens": 30,
                            "ephemeral_1h_input_tokens": 5,
                        },
                        "output_tokens": 7,
                    }
                ],
            }
        ]
    }
    lines = parse_export("anthropic-usage", json.dumps(usage))
    assert {key[2]: entry.tokens for key, entry in lines.items()} == {
        "input": 10,
        "cached_input": 200,
        "cache_write": 35,
        "output": 7,
    }
    assert {key[1] for key in lines} == {"claude-sonnet-4"}
    costs = {
        "data": [
            {
                "starting_at": "2026-11-03T00:00:00Z",
                "results": [
                    {
                        "model": "claude-sonnet-4-20250514",
                        "token_type": "cache_read_input_tokens",
                        "amount": "6.5",
                        "currency": "USD",
                        "cost_type": "tokens",
                    }
                ],
            }
        ]
    }
    [(key, entry)] = parse_export("anthropic-costs", json.dumps(costs)).items()
    assert (key[2], entry.cost) == ("cached_input", Decimal("0.065"))  # cents
    csv_lines = parse_export(
        "csv", "day,model,token_class,tokens,cost\n2026-11-03,gpt-4o-mini,reasoning,120,0.000072\n"
    )
    assert [(k[2], e.tokens, e.cost) for k, e in csv_lines.items()] == [
        ("reasoning", 120, Decimal("0.000072"))
    ]


@pytest.mark.parametrize(
    ("kind", "content", "field"),
    [
        ("pdf", "{}", "format"),
        ("openai-usage", "not json", "content"),
        (
            "openai-usage",
            '{"data": [{"start_time": "someday", "results": []}]}',
            "data[0].start_time",
        ),
        ("csv", "day,model\n2026-11-03,x\n", "content"),
        ("csv", "day,model,token_class\n2026-11-03,x,audio\n", "token_class"),
    ],
)
def test_a_bad_export_names_what_is_wrong(kind: str, content: str, field: str) -> None:
    with pytest.raises(ValidationError) as error:
        parse_export(kind, content)
    assert field in error.value.message_dict


def test_the_command_imports_and_the_console_shows_the_flags(
    tenant_a: Tenant, prices: None, make_staff: Callable[..., User], tmp_path: Path
) -> None:
    now = timezone.now()
    record_usage(tenant_a, now - dt.timedelta(minutes=1), input_tokens=1_000_000)
    export = tmp_path / "openai.csv"
    export.write_text(f"day,model,token_class,tokens\n{now:%Y-%m-%d},gpt-4o-mini,input,5000000\n")
    out = io.StringIO()
    call_command("import_provider_bill", "openai", "csv", str(export), stdout=out)
    assert "imported 1 lines" in out.getvalue()

    export.write_text("day,model\n")
    with pytest.raises(CommandError, match="content: CSV columns missing: token_class"):
        call_command("import_provider_bill", "openai", "csv", str(export))

    page = signed_in(make_staff("auditor")).get("/console/billing/").content.decode()
    table = page[page.index('data-testid="reconciliation"') :]
    assert "missing ingestion" in table and "5000000" in table
