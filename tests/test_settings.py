"""Production settings refuse unsafe configuration, naming the variable at fault."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from controlplane.env import Env, ImproperlyConfiguredEnv

ROOT = Path(__file__).resolve().parent.parent
STRONG_KEY = "x7Gq2vN9pL4mR8tK1wZ5yB3cF6hJ0dS2aE9uI7oP4lM1nQ8rT5vX3zC6bV0gY2kW"


def production_env(**overrides: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        CONTROLPLANE_ENV="production",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="cp.msp.example",
        DATABASE_URL="postgres://controlplane@127.0.0.1:5432/controlplane",
        CLICKHOUSE_URL="http://default:secret@127.0.0.1:8123/",
        FIELD_ENCRYPTION_KEYS="k1:" + Fernet.generate_key().decode(),
        BUNDLE_SIGNING_KEYS="b1:" + base64.b64encode(os.urandom(32)).decode(),
        EVIDENCE_SIGNING_KEYS="e1:" + base64.b64encode(os.urandom(32)).decode(),
        DJANGO_SETTINGS_MODULE="controlplane.settings",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v != "<unset>"}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"DEBUG": "true"}, "DEBUG must be off"),
        ({"SECRET_KEY": "<unset>"}, "SECRET_KEY must be set"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY is too weak"),
        ({"SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5}, "SECRET_KEY is too weak"),
        ({"DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({"ALLOWED_HOSTS": "<unset>"}, "ALLOWED_HOSTS must list"),
        ({"FIELD_ENCRYPTION_KEYS": "<unset>"}, "FIELD_ENCRYPTION_KEYS must hold"),
        ({"BUNDLE_SIGNING_KEYS": "<unset>"}, "BUNDLE_SIGNING_KEYS must hold"),
        ({"EVIDENCE_SIGNING_KEYS": "<unset>"}, "EVIDENCE_SIGNING_KEYS must hold"),
    ],
)
def test_production_refuses_unsafe_settings(overrides: dict[str, str], message: str) -> None:
    result = manage("check", env=production_env(**overrides))
    assert result.returncode != 0
    assert message in result.stderr


def test_production_settings_pass_the_deploy_check() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env())
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_env_helper_names_the_variable() -> None:
    env = Env({"LOGIN_MAX_FAILURES": "lots", "PORT": "0"})
    with pytest.raises(ImproperlyConfiguredEnv, match="LOGIN_MAX_FAILURES must be an integer"):
        env.integer("LOGIN_MAX_FAILURES", 5)
    with pytest.raises(ImproperlyConfiguredEnv, match="PORT must be at least 1"):
        env.integer("PORT", 8000, minimum=1)
    assert env.csv("MISSING", ["a"]) == ["a"]
