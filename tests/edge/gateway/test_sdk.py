"""The official OpenAI and Anthropic SDKs against a running edge and the simulated
provider: answers, streams, usage, and one spool record per request, priced."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import anthropic
import openai
import pytest

from tests.edge.conftest import AGENT, DEVICE, TENANT

from .conftest import AGENT_GATEWAY_HEADERS, AGENT_KEY, EdgeServer

GPT_PRICE = (Decimal("0.15"), Decimal("0.60"))
CLAUDE_PRICE = (Decimal("1.00"), Decimal("5.00"))


def openai_client(edge: EdgeServer) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=AGENT_KEY,
        base_url=f"{edge.url}/v1",
        default_headers=AGENT_GATEWAY_HEADERS,
        max_retries=0,
    )


def anthropic_client(edge: EdgeServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(
        api_key=AGENT_KEY, base_url=edge.url, default_headers=AGENT_GATEWAY_HEADERS, max_retries=0
    )


def expected_cost(price: tuple[Decimal, Decimal], input_tokens: int, output_tokens: int) -> str:
    return str((price[0] * input_tokens + price[1] * output_tokens) / Decimal(1_000_000))


def only_record(edge: EdgeServer) -> dict[str, Any]:
    records = edge.wait_records(1)
    assert len(records) == 1, records
    return records[0]


def assert_metered(
    record: dict[str, Any],
    *,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    price: tuple[Decimal, Decimal],
) -> None:
    assert (record["kind"], record["status"]) == ("model", "ok")
    assert (record["tenant_id"], record["agent_id"], record["device_id"]) == (TENANT, AGENT, DEVICE)
    assert (record["provider"], record["model"]) == (provider, model)
    assert (record["input_tokens"], record["output_tokens"]) == (input_tokens, output_tokens)
    attributes = record["attributes"]
    assert attributes["acp.gateway.cost"] == expected_cost(price, input_tokens, output_tokens)
    assert [a["status"] for a in attributes["acp.gateway.attempts"]] == ["ok"]
    assert attributes["acp.gateway.latency_ms"] > 0


def test_openai_chat(edge: EdgeServer) -> None:
    client = openai_client(edge)
    completion = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Summarise ticket 4711 please."},
        ],
        max_tokens=20,
    )
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason in ("stop", "length")
    usage = completion.usage
    assert usage is not None and usage.completion_tokens <= 20

    record = only_record(edge)
    assert_metered(
        record,
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        price=GPT_PRICE,
    )
    assert "Summarise ticket 4711" in record["request_body"]
    assert completion.choices[0].message.content in record["response_body"]
    assert record["attributes"]["acp.gateway.route"] == "default"
    assert record["name"] == "chat gpt-4o-mini"


@pytest.mark.parametrize("include_usage", [True, False])
def test_openai_stream(edge: EdgeServer, include_usage: bool) -> None:
    client = openai_client(edge)
    options: Any = {"include_usage": True} if include_usage else openai.omit
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Write a haiku about routers."}],
        stream=True,
        stream_options=options,
    )
    text, usage = [], None
    for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text.append(choice.delta.content or "")
    answer = "".join(text)
    assert answer

    record = only_record(edge)
    if include_usage:
        assert usage is not None
        assert (record["input_tokens"], record["output_tokens"]) == (
            usage.prompt_tokens,
            usage.completion_tokens,
        )
    else:
        assert usage is None, "the agent did not ask for usage"
    assert record["output_tokens"] == -(-len(answer) // 4)
    assert_metered(
        record,
        provider="openai",
        model="gpt-4o-mini",
        input_tokens=record["input_tokens"],
        output_tokens=record["output_tokens"],
        price=GPT_PRICE,
    )
    assert record["attributes"]["acp.gateway.stream"] is True
    assert answer in record["response_body"]


def test_anthropic_messages(edge: EdgeServer) -> None:
    client = anthropic_client(edge)
    message = client.messages.create(
        model="claude-haiku-4-5",
        max_tokens=30,
        system="Be brief.",
        messages=[{"role": "user", "content": "What does the edge node do?"}],
    )
    assert message.content[0].type == "text" and message.content[0].text
    record = only_record(edge)
    assert_metered(
        record,
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=message.usage.input_tokens,
        output_tokens=message.usage.output_tokens,
        price=CLAUDE_PRICE,
    )
    assert record["attributes"]["acp.gateway.route"] == "claude"


def test_anthropic_stream(edge: EdgeServer) -> None:
    client = anthropic_client(edge)
    with client.messages.stream(
        model="claude-haiku-4-5",
        max_tokens=50,
        messages=[{"role": "user", "content": "Stream me something."}],
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens == -(-len(text) // 4)
    record = only_record(edge)
    assert_metered(
        record,
        provider="anthropic",
        model="claude-haiku-4-5",
        input_tokens=final.usage.input_tokens,
        output_tokens=final.usage.output_tokens,
        price=CLAUDE_PRICE,
    )
    assert text in record["response_body"]


def test_embeddings_and_models(edge: EdgeServer) -> None:
    client = openai_client(edge)
    result = client.embeddings.create(model="text-embedding-3-small", input=["one", "two"])
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    record = only_record(edge)
    assert (record["operation"], record["input_tokens"], record["output_tokens"]) == (
        "embeddings",
        result.usage.prompt_tokens,
        0,
    )
    assert record["attributes"]["acp.gateway.cost"] == "0", "no price for this model"
    models = {model.id for model in client.models.list()}
    assert {"claude-haiku-4-5", "acp/simple", "acp/standard", "acp/complex"} <= models


def test_openai_sdk_to_an_anthropic_provider_is_translated(edge: EdgeServer) -> None:
    client = openai_client(edge)
    completion = client.chat.completions.create(
        model="claude-haiku-4-5",
        messages=[{"role": "system", "content": "Short."}, {"role": "user", "content": "Hi"}],
    )
    assert completion.object == "chat.completion" and completion.choices[0].message.content
    assert completion.usage is not None
    stream = client.chat.completions.create(
        model="claude-haiku-4-5",
        messages=[{"role": "user", "content": "Hi again"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    records = edge.wait_records(2)
    assert [r["provider"] for r in records] == ["anthropic", "anthropic"]
    assert records[0]["input_tokens"] == completion.usage.prompt_tokens
    assert records[1]["output_tokens"] == chunks[-1].usage.completion_tokens


def test_anthropic_sdk_to_an_openai_provider_is_translated(edge: EdgeServer) -> None:
    client = anthropic_client(edge)
    message = client.messages.create(
        model="gpt-4o-mini", max_tokens=40, messages=[{"role": "user", "content": "Hello"}]
    )
    assert message.type == "message" and message.content[0].type == "text"
    with client.messages.stream(
        model="gpt-4o-mini", max_tokens=40, messages=[{"role": "user", "content": "Hello"}]
    ) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text and final.usage.output_tokens > 0 and final.usage.input_tokens > 0
    records = edge.wait_records(2)
    assert [r["provider"] for r in records] == ["openai", "openai"]
    assert records[1]["output_tokens"] == final.usage.output_tokens


def test_a_tier_alias_resolves_through_the_route(edge: EdgeServer) -> None:
    client = openai_client(edge)
    completion = client.chat.completions.create(
        model="acp/simple", messages=[{"role": "user", "content": "Hi"}]
    )
    assert completion.choices[0].message.content is not None
    record = only_record(edge)
    assert record["attributes"]["acp.gateway.tier"] == "simple"
    assert record["attributes"]["acp.gateway.requested_model"] == "acp/simple"


def test_refusals_are_errors_the_sdks_raise(edge: EdgeServer) -> None:
    with pytest.raises(openai.PermissionDeniedError) as raised:
        openai_client(edge).chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "Quarterly numbers?"}],
            extra_headers={"x-acp-tools": "ledger.query"},
        )
    assert raised.value.code == "policy.data_class_not_allowed"
    assert "finance" in raised.value.message
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        anthropic_client(edge).messages.create(
            model="claude-haiku-4-5",
            max_tokens=10,
            messages=[{"role": "user", "content": "Quarterly numbers?"}],
            extra_headers={"x-acp-data-classes": "finance"},
        )
    assert "policy.data_class_not_allowed" in str(denied.value)
    wrong = openai.OpenAI(api_key="acpk_nope_x", base_url=f"{edge.url}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model="gpt-4o-mini", messages=[])
    records = edge.wait_records(2)
    assert [r["status"] for r in records] == ["refused", "refused"]
