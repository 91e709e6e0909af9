"""A ClickHouse HTTP endpoint backed by chDB: the ClickHouse of the server stack where no
ClickHouse server installs (CI, this machine), and of the tests' ``HttpStore``.

    python -m controlplane.analytics.chdb_server --path var/chdb-server --port 8123 \
        [--host 127.0.0.1] [--user default]      # password from CLICKHOUSE_SERVER_PASSWORD

One long-lived process owns the chDB data directory (chDB locks it to one process) and
serves clickhouse-connect over HTTP, so web, worker and beat processes share one
ClickHouse as they would share a server. It is not a replacement for a ClickHouse server
in production: no replication, no compression, one user (docs/operations.md).

A ThreadingHTTPServer hands the SQL, its ``{name:Type}`` parameters and the requested
format to chDB and answers the way the server does.

Implemented: ``GET /ping``; ``GET``/``POST /`` with the SQL in the ``query`` argument
and/or the body (URL part first, joined by a newline, as the server does), or in a
multipart form (clickhouse-connect's way for long bound parameters); ``database``,
``default_format``, ``query_id``, ``param_<name>``; any other argument is a setting,
applied with ``SET`` to a fresh chDB session per request; an INSERT whose body carries
``FORMAT <name>`` data is streamed into chDB; Basic auth for one user; the response
headers clickhouse-connect reads (``X-ClickHouse-Format``, ``-Timezone``,
``-Query-Id``, ``-Summary``, ``-Server-Display-Name``) and, on errors,
``X-ClickHouse-Exception-Code`` with a non-2xx status.

Not implemented, and avoided by the client: compression in either direction (requests
with a ``Content-Encoding`` or ``compress``/``decompress`` are refused; responses go
uncompressed, which clickhouse-connect accepts whatever it asked for; HttpStore sends
Arrow IPC compressed inside the stream instead), HTTP sessions (``session_id`` is
ignored; HttpStore turns them off), ``client_protocol_version`` (ignored, so the client
falls back to protocol 0), progress headers and chunked request bodies.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import email.parser
import email.policy
import json
import os
import re
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chdb.session import Session

_TRANSPORT_ARGUMENTS = frozenset(
    {
        "query",
        "database",
        "default_format",
        "query_id",
        "session_id",
        "session_timeout",
        "session_check",
        "buffer_size",
        "wait_end_of_query",
        "client_protocol_version",
        "user",
        "password",
        "quota_key",
        "role",
        "stacktrace",
        "close_session",
        "send_progress_in_http_headers",
        "http_headers_progress_interval_ms",
        "enable_http_compression",
        "cancel_http_readonly_queries_on_client_close",
    }
)
_SETTING_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INSERT_WITH_DATA = re.compile(
    rb"\s*(INSERT\s+INTO\s.*?)\bFORMAT\s+(\w+)[ \t]*(?:\r?\n|$)", re.IGNORECASE | re.DOTALL
)
_TRAILING_FORMAT = re.compile(r"\bFORMAT\s+(\w+)\s*;?\s*$", re.IGNORECASE)
_ERROR_CODE = re.compile(r"\bCode:\s*(\d+)")
_AUTHENTICATION_FAILED = "Code: 516. DB::Exception: Authentication failed. (AUTHENTICATION_FAILED)"


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class ClickHouseError(Exception):
    def __init__(self, code: int, message: str, status: int = 500) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    def reply(self) -> Reply:
        headers = {
            "X-ClickHouse-Exception-Code": str(self.code),
            "Content-Type": "text/plain; charset=UTF-8",
        }
        return Reply(self.status, f"{self}\n".encode(), headers)


class ClickHouseHttpServer:
    def __init__(
        self,
        path: Path,
        *,
        user: str = "default",
        password: str = "",
        name: str = "chdb",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.path = Path(path)
        self.user = user
        self.password = password
        self.name = name
        self.requests = 0
        # Open while the server runs: the engine shuts down when its last session closes.
        self._keeper = Session(str(self.path))
        self.timezone = self._keeper.query("SELECT timezone()").bytes().decode().strip().strip('"')
        self._httpd = ThreadingHTTPServer((host, port), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.endpoint = self  # type: ignore[attr-defined]
        self.connections: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def dsn(self) -> str:
        bound = str(self._httpd.server_address[0])
        host = "127.0.0.1" if bound in ("0.0.0.0", "") else bound  # noqa: S104
        return f"http://{self.user}:{self.password}@{host}:{self.port}/"

    def start(self) -> ClickHouseHttpServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        for connection in list(self.connections):  # keep-alive connections end too
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)
        self._keeper.close()

    def __enter__(self) -> ClickHouseHttpServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def authorized(
        self, headers: Message | Mapping[str, str], arguments: Mapping[str, str]
    ) -> bool:
        user, password = arguments.get("user"), arguments.get("password", "")
        if "X-ClickHouse-User" in headers:
            user, password = headers["X-ClickHouse-User"], headers.get("X-ClickHouse-Key", "")
        authorization = headers.get("Authorization", "")
        if authorization.startswith("Basic "):
            decoded = base64.b64decode(authorization[6:]).decode()
            user, _, password = decoded.partition(":")
        return (user or "default") == self.user and password == self.password

    def execute(self, arguments: dict[str, str], body: bytes) -> Reply:
        """Run one request. Subclasses may raise ClickHouseError to fail it."""
        self.requests += 1
        query_id = arguments.get("query_id") or str(uuid.uuid4())
        try:
            reply = self._execute(arguments, body)
        except ClickHouseError as exc:
            reply = exc.reply()
        reply.headers["X-ClickHouse-Query-Id"] = query_id
        reply.headers["X-ClickHouse-Server-Display-Name"] = self.name
        return reply

    def _execute(self, arguments: dict[str, str], body: bytes) -> Reply:
        for refused in ("compress", "decompress"):
            if arguments.get(refused, "0") not in ("0", ""):
                raise ClickHouseError(48, f"Code: 48. DB::Exception: {refused}=1 is not supported")
        sql_argument = arguments.get("query", "").encode()
        text = sql_argument + b"\n" + body if sql_argument and body else sql_argument or body
        if not text.strip():
            raise ClickHouseError(62, "Code: 62. DB::Exception: Empty query. (SYNTAX_ERROR)", 400)
        parameters = {k[6:]: v for k, v in arguments.items() if k.startswith("param_")}
        settings = {
            k: v
            for k, v in arguments.items()
            if k not in _TRANSPORT_ARGUMENTS and not k.startswith("param_")
        }
        try:
            session = Session(str(self.path))
        except RuntimeError as exc:
            raise _error(exc) from exc
        try:
            database = arguments.get("database")
            if database:
                _run(session, "USE {db:Identifier}", {"db": database})
            for name, value in settings.items():
                if not _SETTING_NAME.fullmatch(name):
                    raise ClickHouseError(115, f"Code: 115. DB::Exception: Unknown setting {name}")
                _run(session, f"SET {name} = {{value:String}}", {"value": value})
            timezone = settings.get("session_timezone") or self.timezone
            insert = _INSERT_WITH_DATA.match(text)
            if insert:
                return self._insert(session, insert, text, timezone)
            sql = text.decode()
            fmt = arguments.get("default_format", "TabSeparated")
            result = _run(session, sql, parameters, fmt)
            output = bytes(result.bytes())
            summary = _summary(read=(result.rows_read(), result.bytes_read()))
            headers = {"X-ClickHouse-Timezone": timezone, "X-ClickHouse-Summary": summary}
            if output:
                named = _TRAILING_FORMAT.search(sql)
                headers["X-ClickHouse-Format"] = named.group(1) if named else fmt
            headers["Content-Type"] = "application/octet-stream"
            return Reply(200, output, headers)
        finally:
            session.close()

    def _insert(self, session: Session, insert: re.Match[bytes], text: bytes, tz: str) -> Reply:
        statement, fmt = insert.group(1).decode(), insert.group(2).decode()
        try:
            inserter = session.send_insert(statement, fmt)
            with inserter:
                inserter.append(text[insert.end() :])
                written = inserter.finish()
        except RuntimeError as exc:
            raise _error(exc) from exc
        summary = _summary(written=(written.rows_written, written.bytes_written))
        return Reply(200, b"", {"X-ClickHouse-Timezone": tz, "X-ClickHouse-Summary": summary})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "chdb-clickhouse"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.endpoint.connections.add(self.connection)

    def finish(self) -> None:
        self.endpoint.connections.discard(self.connection)
        super().finish()

    @property
    def endpoint(self) -> ClickHouseHttpServer:
        return self.server.endpoint  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/ping":
            self._send(Reply(200, b"Ok.\n", {"Content-Type": "text/plain; charset=UTF-8"}))
            return
        self._query(dict(parse_qsl(url.query, keep_blank_values=True)), b"")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        arguments = dict(parse_qsl(url.query, keep_blank_values=True))
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "identity") != "identity":
            self._send(_refusal("compressed request bodies are not supported"))
            return
        content_type = self.headers.get("Content-Type", "")
        if content_type.startswith("multipart/form-data"):
            arguments.update(_form_fields(content_type, body))
            body = b""
        self._query(arguments, body)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _query(self, arguments: dict[str, str], body: bytes) -> None:
        try:
            if not self.endpoint.authorized(self.headers, arguments):
                raise ClickHouseError(516, _AUTHENTICATION_FAILED, status=403)
            reply = self.endpoint.execute(arguments, body)
        except ClickHouseError as exc:
            reply = exc.reply()
        self._send(reply)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        # One write for headers and body (end_headers() would flush the headers alone).
        self._headers_buffer.append(b"\r\n" + reply.body)  # type: ignore[attr-defined]
        self.flush_headers()


def _run(session: Session, sql: str, params: dict[str, str], fmt: str = "TabSeparated") -> Any:
    try:
        return session.query(sql, fmt, params=params)
    except RuntimeError as exc:
        raise _error(exc) from exc


def _error(exc: BaseException) -> ClickHouseError:
    match = _ERROR_CODE.search(str(exc))
    return ClickHouseError(int(match.group(1)) if match else 1002, str(exc))


def _refusal(message: str) -> Reply:
    return ClickHouseError(
        48, f"Code: 48. DB::Exception: {message}. (NOT_IMPLEMENTED)", 415
    ).reply()


def _summary(read: tuple[int, int] = (0, 0), written: tuple[int, int] = (0, 0)) -> str:
    values = {
        "read_rows": read[0],
        "read_bytes": read[1],
        "written_rows": written[0],
        "written_bytes": written[1],
        "total_rows_to_read": 0,
        "result_rows": 0,
        "result_bytes": 0,
        "elapsed_ns": 0,
    }
    return json.dumps({name: str(value) for name, value in values.items()})


def _form_fields(content_type: str, body: bytes) -> dict[str, str]:
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode()
    return fields


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m controlplane.analytics.chdb_server",
        description="Serve ClickHouse's HTTP interface from a chDB data directory.",
    )
    parser.add_argument("--path", required=True, type=Path, help="chDB data directory")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=8123, help="port (0: any free port)")
    parser.add_argument("--user", default="default", help="the one user clients sign in as")
    args = parser.parse_args(argv)
    password = os.environ.get("CLICKHOUSE_SERVER_PASSWORD", "")
    try:
        server = ClickHouseHttpServer(
            args.path, user=args.user, password=password, host=args.host, port=args.port
        )
    except (OSError, RuntimeError) as exc:
        sys.exit(f"chdb_server: cannot serve {args.path} on {args.host}:{args.port}: {exc}")
    stopped = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopped.set())
    server.start()
    # One line a supervisor (or a test) can wait for; the port matters with --port 0.
    print(f"chdb_server listening on {args.host}:{server.port} path={args.path}", flush=True)
    stopped.wait()
    server.stop()


if __name__ == "__main__":
    main()
