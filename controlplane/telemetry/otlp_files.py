"""Reading the files an OpenTelemetry Collector's file exporter writes
(docs/operations.md, "Importing OTLP files").

- ``format: json``: JSON lines, one OTLP/JSON ``TracesData`` object per line;
- ``format: proto``: each ``TracesData`` message preceded by its length, a 4-byte
  big-endian unsigned integer.

Either may be gzipped as a whole (``.gz``, recognised by its magic number). The format is
recognised by the first byte that is not white space: ``{`` is JSON. ``TracesData`` has
the fields of ``ExportTraceServiceRequest``, so both decode with the edge's decoders
(edge/otlp.py), the same that read what agents send.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from edge.otlp import OtlpError, parse_json, parse_protobuf

GZIP_MAGIC = b"\x1f\x8b"
MAX_MESSAGE_BYTES = 256 << 20
_WHITESPACE = b" \t\r\n"


class OtlpFileError(ValueError):
    """A file cannot be read; the message names the file, the line or message, and the
    field."""


@dataclass(frozen=True)
class Chunk:
    where: str
    """``file:line`` (JSON lines) or ``file: message n at byte b`` (protobuf)."""
    request: ExportTraceServiceRequest


def _open(path: Path) -> IO[bytes]:
    handle = path.open("rb")
    if handle.read(2) == GZIP_MAGIC:
        handle.close()
        return cast(IO[bytes], gzip.open(path, "rb"))
    handle.seek(0)
    return handle


def _is_json(handle: IO[bytes]) -> bool:
    """Whether the file is JSON lines; leaves the handle at its start."""
    head = b""
    while True:
        block = handle.read(4096)
        if not block:
            break
        head = block.lstrip(_WHITESPACE)
        if head:
            break
    handle.seek(0)
    return head[:1] == b"{"


def read_otlp_file(path: Path) -> Iterator[Chunk]:
    """The trace requests of one file, in file order; OtlpFileError on the first thing
    that cannot be read, naming where."""
    try:
        with _open(path) as handle:
            if _is_json(handle):
                yield from _json_lines(path, handle)
            else:
                yield from _delimited(path, handle)
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise OtlpFileError(f"{path}: cannot be read: {error}") from None


def _json_lines(path: Path, handle: IO[bytes]) -> Iterator[Chunk]:
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            yield Chunk(where, parse_json(line))
        except OtlpError as error:
            raise OtlpFileError(f"{where}: {error}") from None


def _delimited(path: Path, handle: IO[bytes]) -> Iterator[Chunk]:
    offset, number = 0, 0
    while True:
        header = handle.read(4)
        if not header:
            return
        number += 1
        where = f"{path}: message {number} at byte {offset}"
        if len(header) < 4:
            raise OtlpFileError(f"{where}: the file ends inside a length prefix")
        size = int.from_bytes(header, "big")
        if size > MAX_MESSAGE_BYTES:
            raise OtlpFileError(
                f"{where}: a message of {size} bytes; is this a file exporter's proto file?"
            )
        body = handle.read(size)
        if len(body) < size:
            raise OtlpFileError(f"{where}: the file ends {size - len(body)} bytes early")
        try:
            yield Chunk(where, parse_protobuf(body))
        except OtlpError as error:
            raise OtlpFileError(f"{where}: {error}") from None
        offset += 4 + size
