"""Server-sent events, as both APIs stream them: ``event:`` and ``data:`` lines, blank
line between events. Incremental, so a relay can pass each event on as it arrives."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Event:
    name: str
    data: str
    raw: bytes
    """The event as received (line endings normalised), ending in a blank line."""


class Parser:
    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Event]:
        self._buffer = (self._buffer + chunk).replace(b"\r\n", b"\n")
        events: list[Event] = []
        while True:
            end = self._buffer.find(b"\n\n")
            if end < 0:
                return events
            block, self._buffer = self._buffer[: end + 2], self._buffer[end + 2 :]
            event = _parse(block)
            if event is not None:
                events.append(event)

    def close(self) -> list[Event]:
        """An unterminated last event, if the stream ended without its blank line."""
        block, self._buffer = self._buffer, b""
        event = _parse(block.rstrip(b"\n") + b"\n\n") if block.strip() else None
        return [event] if event is not None else []


def _parse(block: bytes) -> Event | None:
    name, data = "", []
    for line in block.decode(errors="replace").split("\n"):
        if not line or line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if not name and not data:
        return None
    return Event(name, "\n".join(data), block)


def encode(data: bytes, name: str | None = None) -> bytes:
    head = b"event: " + name.encode() + b"\n" if name else b""
    return head + b"data: " + data + b"\n\n"
