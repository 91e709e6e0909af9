"""A reverse proxy in front of an edge node that counts its /v1/pull requests in flight:
two workers that both believed they held the node's lease would overlap there."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class PullCounter:
    def __init__(self, upstream: str) -> None:
        self.in_flight = 0
        self.most_in_flight = 0
        self.pulls = 0
        self._lock = threading.Lock()
        self.client = httpx.Client(base_url=upstream, timeout=30)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
        self._server.daemon_threads = True
        self._server.counter = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
        pull = path.startswith("/v1/pull")
        if pull:
            with self._lock:
                self.in_flight += 1
                self.pulls += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            return self.client.request(method, path, content=body, headers=headers)
        finally:
            if pull:
                with self._lock:
                    self.in_flight -= 1

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self.client.close()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _forward(self) -> None:
        counter: PullCounter = self.server.counter  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        reply = counter.forward(self.command, self.path, body, headers)
        self.send_response(reply.status_code)
        for name, value in reply.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.content)))
        self.end_headers()
        self.wfile.write(reply.content)

    def do_GET(self) -> None:
        self._forward()

    def do_POST(self) -> None:
        self._forward()

    def do_PUT(self) -> None:
        self._forward()

    def log_message(self, format: str, *args: Any) -> None:
        pass
