"""Edge settings: defaults, and a bad environment stops the edge naming the variable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.settings import SettingsError, load_settings

from .conftest import NODE_TOKEN, REPO, sha256

TOKEN_SHA256 = sha256(NODE_TOKEN)


def test_defaults() -> None:
    settings = load_settings({"EDGE_NODE_TOKEN_SHA256": TOKEN_SHA256.upper()})
    assert (settings.host, settings.port) == ("127.0.0.1", 4318)
    assert settings.data_dir == Path("var/edge").resolve()
    assert settings.node_token_sha256 == TOKEN_SHA256
    assert (settings.max_spool_bytes, settings.max_body_bytes) == (1 << 30, 4 << 20)


def test_values_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "EDGE_NODE_TOKEN_SHA256": TOKEN_SHA256,
            "EDGE_HOST": "0.0.0.0",
            "EDGE_PORT": "14318",
            "EDGE_DATA_DIR": str(tmp_path),
            "EDGE_MAX_SPOOL_BYTES": "1000000",
            "EDGE_MAX_BODY_BYTES": "65536",
        }
    )
    assert (settings.host, settings.port, settings.data_dir) == ("0.0.0.0", 14318, tmp_path)
    assert (settings.max_spool_bytes, settings.max_body_bytes) == (1_000_000, 65536)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "EDGE_NODE_TOKEN_SHA256"),
        ({"EDGE_NODE_TOKEN_SHA256": "not-a-digest"}, "EDGE_NODE_TOKEN_SHA256"),
        ({"EDGE_PORT": "http"}, "EDGE_PORT"),
        ({"EDGE_PORT": "70000"}, "EDGE_PORT"),
        ({"EDGE_MAX_SPOOL_BYTES": "0"}, "EDGE_MAX_SPOOL_BYTES"),
        ({"EDGE_MAX_BODY_BYTES": "4MiB"}, "EDGE_MAX_BODY_BYTES"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings({"EDGE_NODE_TOKEN_SHA256": TOKEN_SHA256, **env} if env else {})


def test_the_process_refuses_to_start_without_a_node_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "EDGE_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert "EDGE_NODE_TOKEN_SHA256" in result.stderr
