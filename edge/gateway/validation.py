"""Every field the OpenAI chat completions and embeddings APIs and the Anthropic
messages API define, checked for type and range before any stage reads the body.

A request the provider would refuse as malformed is refused here with a 400 that names
the field, in the agent's API shape, and captured like any refusal: no stage (policy,
filter, translation, budget) ever meets a value of a type it does not expect. Fields
the tables do not list are passed through for the provider to judge.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from edge.gateway.verdicts import Refusal

Check = Callable[[Any, str], None]


class FieldError(ValueError):
    """The message names the field (``messages[2].content``) and what it must be."""


def refusal(error: FieldError) -> Refusal:
    return Refusal(400, "invalid_request_error", "request.malformed", str(error), stage="request")


# --- checks ------------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return (isinstance(value, int | float)) and not isinstance(value, bool)


def string(value: Any, name: str) -> None:
    if not isinstance(value, str):
        raise FieldError(f"{name} must be a string")


def boolean(value: Any, name: str) -> None:
    if not isinstance(value, bool):
        raise FieldError(f"{name} must be true or false")


def obj(value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise FieldError(f"{name} must be an object")


def integer(minimum: int | None = None, maximum: int | None = None) -> Check:
    def check(value: Any, name: str) -> None:
        if not _is_int(value):
            raise FieldError(f"{name} must be an integer")
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise FieldError(f"{name} must be between {minimum} and {maximum}")

    return check


def number(minimum: float, maximum: float) -> Check:
    def check(value: Any, name: str) -> None:
        if not _is_number(value) or not minimum <= value <= maximum:
            raise FieldError(f"{name} must be a number from {minimum} to {maximum}")

    return check


def one_of(*choices: str) -> Check:
    def check(value: Any, name: str) -> None:
        if value not in choices:
            raise FieldError(f"{name} must be one of {', '.join(choices)}")

    return check


def array(item: Check | None = None, *, max_items: int | None = None) -> Check:
    def check(value: Any, name: str) -> None:
        if not isinstance(value, list):
            raise FieldError(f"{name} must be an array")
        if max_items is not None and len(value) > max_items:
            raise FieldError(f"{name} may hold at most {max_items} items")
        if item is not None:
            for index, element in enumerate(value):
                item(element, f"{name}[{index}]")

    return check


def either(*checks: Check, what: str) -> Check:
    def check(value: Any, name: str) -> None:
        for candidate in checks:
            try:
                candidate(value, name)
                return
            except FieldError:
                continue
        raise FieldError(f"{name} must be {what}")

    return check


def fields(spec: Mapping[str, Check], *, required: tuple[str, ...] = ()) -> Check:
    """An object whose listed members, when present and not null, pass their check."""

    def check(value: Any, name: str) -> None:
        obj(value, name or "the body")
        for key in required:
            if value.get(key) is None:
                raise FieldError(f"{name}.{key} is required" if name else f"{key} is required")
        for key, member in spec.items():
            if value.get(key) is not None:
                member(value[key], f"{name}.{key}" if name else key)

    return check


def map_of(values: Check) -> Check:
    def check(value: Any, name: str) -> None:
        obj(value, name)
        for key, member in value.items():
            values(member, f"{name}.{key}")

    return check


# --- the APIs --------------------------------------------------------------------------

_PART = fields({"type": string}, required=("type",))
_CONTENT = either(string, array(_PART), what="a string or an array of content parts")
_STOP = either(string, array(string, max_items=4), what="a string or an array of strings")
_TOOL_CHOICE = either(string, obj, what="a string or an object")

_OPENAI_MESSAGE = fields(
    {
        "role": one_of("system", "developer", "user", "assistant", "tool", "function"),
        "content": _CONTENT,
        "name": string,
        "tool_calls": array(obj),
        "tool_call_id": string,
        "function_call": obj,
        "refusal": string,
    },
    required=("role",),
)

OPENAI_CHAT = fields(
    {
        "model": string,
        "messages": array(_OPENAI_MESSAGE),
        "audio": obj,
        "frequency_penalty": number(-2, 2),
        "function_call": _TOOL_CHOICE,
        "functions": array(fields({"name": string}, required=("name",))),
        "logit_bias": map_of(number(-100, 100)),
        "logprobs": boolean,
        "max_completion_tokens": integer(0),
        "max_tokens": integer(0),
        "metadata": map_of(string),
        "modalities": array(string),
        "n": integer(1, 128),
        "parallel_tool_calls": boolean,
        "prediction": obj,
        "presence_penalty": number(-2, 2),
        "prompt_cache_key": string,
        "reasoning_effort": string,
        "response_format": fields({"type": string}, required=("type",)),
        "safety_identifier": string,
        "seed": integer(),
        "service_tier": string,
        "stop": _STOP,
        "store": boolean,
        "stream": boolean,
        "stream_options": fields({"include_usage": boolean, "include_obfuscation": boolean}),
        "temperature": number(0, 2),
        "tool_choice": _TOOL_CHOICE,
        "tools": array(obj),
        "top_logprobs": integer(0, 20),
        "top_p": number(0, 1),
        "user": string,
        "verbosity": string,
        "web_search_options": obj,
    },
    required=("model", "messages"),
)

_EMBEDDING_INPUT = either(
    string,
    array(string),
    array(integer(0)),
    array(array(integer(0))),
    what="a string, an array of strings or an array of token arrays",
)

OPENAI_EMBEDDINGS = fields(
    {
        "model": string,
        "input": _EMBEDDING_INPUT,
        "dimensions": integer(1),
        "encoding_format": one_of("float", "base64"),
        "user": string,
    },
    required=("model", "input"),
)

_ANTHROPIC_MESSAGE = fields(
    {"role": one_of("user", "assistant"), "content": _CONTENT},
    required=("role", "content"),
)

ANTHROPIC_MESSAGES = fields(
    {
        "model": string,
        "messages": array(_ANTHROPIC_MESSAGE),
        "max_tokens": integer(0),
        "container": either(string, obj, what="a string or an object"),
        "mcp_servers": array(obj),
        "metadata": fields({"user_id": string}),
        "service_tier": string,
        "stop_sequences": array(string),
        "stream": boolean,
        "system": either(string, array(_PART), what="a string or an array of text blocks"),
        "temperature": number(0, 1),
        "thinking": fields({"type": string}, required=("type",)),
        "tool_choice": fields({"type": string}, required=("type",)),
        "tools": array(obj),
        "top_k": integer(0),
        "top_p": number(0, 1),
    },
    required=("model", "messages"),
)


SCHEMAS: dict[tuple[str, str], Check] = {
    ("openai", "chat"): OPENAI_CHAT,
    ("openai", "embeddings"): OPENAI_EMBEDDINGS,
    ("anthropic", "chat"): ANTHROPIC_MESSAGES,
}


def validate(api: str, operation: str, body: Any) -> None:
    """Refuse (400, naming the field) a body the API would not accept."""
    try:
        SCHEMAS[(api, operation)](body, "")
    except FieldError as error:
        raise refusal(error) from None
