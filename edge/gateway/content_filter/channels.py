"""Where a text came from, and what the filter does with it.

What reaches the model comes at different levels of trust. The operator's system
prompt is the agent's own; the user's turn is input from outside; tool results and
documents (retrieved pages, e-mails, files) are written by whoever controls the source,
so text in them that addresses the model and orders an action is an injection however
politely it is put. docs/content-filter.md has the table.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM = "system"
USER = "user"
TOOL_RESULT = "tool_result"
DOCUMENT = "document"
TOOL_ARGUMENTS = "tool_arguments"
RESPONSE = "response"


@dataclass(frozen=True)
class Channel:
    name: str
    injection: bool
    """Scanned for prompt injection at all."""
    untrusted: bool
    """Held to the stricter rule (rules' untrusted weights, the model's lower bar)."""


CHANNELS: dict[str, Channel] = {
    channel.name: channel
    for channel in (
        Channel(SYSTEM, injection=False, untrusted=False),
        Channel(USER, injection=True, untrusted=False),
        Channel(TOOL_RESULT, injection=True, untrusted=True),
        Channel(DOCUMENT, injection=True, untrusted=True),
        Channel(TOOL_ARGUMENTS, injection=True, untrusted=False),
        Channel(RESPONSE, injection=False, untrusted=False),
    )
}


def channel(name: str) -> Channel:
    try:
        return CHANNELS[name]
    except KeyError:
        raise ValueError(f"unknown channel {name!r}; one of {sorted(CHANNELS)}") from None


UNTRUSTED_CHANNELS = frozenset(name for name, where in CHANNELS.items() if where.untrusted)
