"""Answers scanned on their way back to the agent, through the official SDKs: personal
data and secrets in what the model returns are flagged, redacted or withheld per the
tenant's policy; a stream is cut when the policy blocks, and the decision is recorded
when the stream was already out. The simulated provider echoes (reversed) a line of the
prompt, so the request itself carries nothing the filter would find."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from edge.simprovider import ECHO_REVERSED, RunningSim
from tests.edge.conftest import TENANT

from .conftest import EdgeServer, provider, route
from .test_gateway import configure, verdict_codes
from .test_sdk import anthropic_client, openai_client

KEY = "AKIA" + "Q7WERTZ2UIOP3ASD"  # an AWS access key id shape (not a real key)
ANSWER = f"Here is the deploy config: aws_access_key_id = {KEY} and mail ops@acme-corp.com."


def asking_for(answer: str) -> str:
    return f"{ECHO_REVERSED} {answer[::-1]}"


def configured(edges: Callable[..., EdgeServer], sim: RunningSim, pii: str) -> EdgeServer:
    edge = edges()
    policy: dict[str, Any] = {
        "tenant_id": TENANT,
        "injection": "block",
        "pii": pii,
        "pii_types": ["secret", "email"],
        "tool_data_classes": {},
    }
    configure(
        edge,
        providers=[
            provider("sim-a", sim.url),
            provider("sim-anthropic", sim.url, kind="anthropic"),
        ],
        routes=[
            route(
                "claude",
                [{"provider_id": "sim-anthropic", "model": "claude-haiku-4-5", "weight": 1}],
                model="claude-haiku-4-5",
            ),
            route(),
        ],
        policies=[policy],
    )
    return edge


@pytest.mark.slow
def test_openai_answers_are_redacted(edges: Callable[..., EdgeServer], sim: RunningSim) -> None:
    edge = configured(edges, sim, "redact")
    client = openai_client(edge)
    messages: Any = [{"role": "user", "content": asking_for(ANSWER)}]
    answer = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
    text = answer.choices[0].message.content or ""
    assert KEY not in text and "[SECRET]" in text and "[EMAIL]" in text
    record = edge.wait_records(1)[0]
    assert record["status"] == "ok" and verdict_codes(record) == ["filter.response_pii"]
    assert KEY not in record["response_body"]
    verdict = record["attributes"]["acp.gateway.verdicts"][0]
    assert "secret:aws_access_key" in verdict["reason"]


@pytest.mark.slow
def test_openai_answers_are_withheld_when_the_policy_blocks(
    edges: Callable[..., EdgeServer], sim: RunningSim
) -> None:
    edge = configured(edges, sim, "block")
    messages: Any = [{"role": "user", "content": asking_for(ANSWER)}]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        openai_client(edge).chat.completions.create(model="gpt-4o-mini", messages=messages)
    assert refused.value.code == "filter.response_pii"
    record = edge.wait_records(1)[0]
    assert record["status"] == "refused" and verdict_codes(record) == ["filter.response_pii"]


@pytest.mark.slow
def test_anthropic_answers_are_flagged(edges: Callable[..., EdgeServer], sim: RunningSim) -> None:
    edge = configured(edges, sim, "flag")
    message = anthropic_client(edge).messages.create(
        model="claude-haiku-4-5",
        max_tokens=200,
        messages=[{"role": "user", "content": asking_for(ANSWER)}],
    )
    block = message.content[0]
    assert block.type == "text" and KEY in block.text, "flag lets the answer through"
    record = edge.wait_records(1)[0]
    assert verdict_codes(record) == ["filter.response_pii"]
    assert record["attributes"]["acp.gateway.verdicts"][0]["verdict"] == "flag"


@pytest.mark.slow
def test_a_stream_is_cut_when_the_policy_blocks(
    edges: Callable[..., EdgeServer], sim: RunningSim
) -> None:
    edge = configured(edges, sim, "block")
    stream = openai_client(edge).chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": asking_for(ANSWER + " " + "filler " * 80)}],
        stream=True,
    )
    text: list[str] = []
    with pytest.raises(openai.APIError, match="personal data or secrets"):
        for chunk in stream:
            for choice in chunk.choices:
                text.append(choice.delta.content or "")
    assert KEY not in "".join(text)
    assert "filler" not in "".join(text), "nothing after the cut reaches the agent"
    record = edge.wait_records(1)[0]
    assert record["status"] == "refused"
    verdict = record["attributes"]["acp.gateway.verdicts"][-1]
    assert (verdict["code"], verdict["verdict"]) == ("filter.response_pii", "block")


@pytest.mark.slow
def test_a_stream_already_out_has_its_decision_recorded(
    edges: Callable[..., EdgeServer], sim: RunningSim
) -> None:
    edge = configured(edges, sim, "redact")
    with anthropic_client(edge).messages.stream(
        model="claude-haiku-4-5",
        max_tokens=400,
        messages=[{"role": "user", "content": asking_for(ANSWER)}],
    ) as stream:
        text = "".join(stream.text_stream)
    assert KEY in text, "a streamed answer is not rewritten in flight"
    record = edge.wait_records(1)[0]
    assert record["status"] == "ok"
    verdict = record["attributes"]["acp.gateway.verdicts"][-1]
    assert (verdict["code"], verdict["verdict"]) == ("filter.response_pii", "flag")
    assert "already streamed" in verdict["reason"]
    assert KEY not in record["response_body"], "the record keeps the redacted copy"
    assert isinstance(stream, anthropic.MessageStream)
