"""``python -m edge`` as a child process on a free loopback port: the recovery drill's
scratch edge (controlplane/recovery/edge_drill.py), and the tests' and benchmarks'."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_SOURCE_ROOT = Path(__file__).resolve().parents[1]


class EdgeStartError(RuntimeError):
    """The edge process exited or did not answer in time; the message has its log's end."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class EdgeProcess:
    """``python -m edge`` with ``EDGE_*`` settings from ``env`` on top of this process's
    environment; its output goes to ``edge-<port>.log`` next to ``data_dir``."""

    def __init__(self, data_dir: Path, *, port: int | None = None, **env: str) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "EDGE_HOST": "127.0.0.1",
            "EDGE_PORT": str(self.port),
            "EDGE_DATA_DIR": str(data_dir),
            **env,
        }
        self.log = data_dir.parent / f"edge-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20) -> EdgeProcess:
        """Start it and wait until it answers HTTP (any status)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "edge"],
                cwd=_SOURCE_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EdgeStartError(f"edge exited: {self.log.read_text()[-2000:]}")
            try:
                httpx.get(f"{self.url}/v1/heartbeat", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        raise EdgeStartError(f"edge did not answer in {timeout} s: {self.log.read_text()[-2000:]}")

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=10)

    def kill(self) -> None:
        """SIGKILL: no shutdown, as in a crash."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
