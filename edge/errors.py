"""Errors shared by the configuration modules (kept apart to avoid import cycles)."""

from __future__ import annotations


class ConfigError(ValueError):
    """The document is invalid; the message names the offending field."""
