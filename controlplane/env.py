"""Typed access to environment variables.

Every setting that comes from the environment goes through here, so a bad value
stops the process at start-up with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Mapping


class ImproperlyConfiguredEnv(Exception):
    """An environment variable is missing or holds a value we cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class Env:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def raw(self, name: str) -> str | None:
        return self._environ.get(name)

    def string(self, name: str, default: str | None = None) -> str:
        value = self._environ.get(name)
        if value is None:
            if default is None:
                raise ImproperlyConfiguredEnv(f"{name} must be set")
            return default
        return value

    def optional(self, name: str) -> str | None:
        value = self._environ.get(name)
        return value if value else None

    def flag(self, name: str, default: bool) -> bool:
        value = self._environ.get(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ImproperlyConfiguredEnv(
            f"{name} must be a boolean (one of 1/0, true/false, yes/no, on/off), got {value!r}"
        )

    def integer(self, name: str, default: int, *, minimum: int | None = None) -> int:
        value = self._environ.get(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ImproperlyConfiguredEnv(f"{name} must be at least {minimum}, got {number}")
        return number

    def csv(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._environ.get(name)
        if value is None:
            return list(default or [])
        return [item.strip() for item in value.split(",") if item.strip()]

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self._environ.get(name, default)
        if value not in choices:
            raise ImproperlyConfiguredEnv(
                f"{name} must be one of {', '.join(choices)}, got {value!r}"
            )
        return value
