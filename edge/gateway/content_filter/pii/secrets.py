"""Secrets: provider and cloud keys, repository and chat tokens, private keys, JWTs and
passwords in connection strings. Each shape is specific (a fixed prefix and alphabet, a
PEM armour, a JWT whose header decodes to JSON with ``alg``); placeholders such as
``sk-...``, ``<password>`` or ``${DB_PASSWORD}`` are not reported."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

import orjson

from edge.gateway.content_filter.findings import PiiFinding
from edge.gateway.content_filter.pii.common import make_finding

_B = r"(?<![\w\-])"  # a token starts at a word boundary (dashes count as word here)
_E = r"(?![\w\-])"
# subtype, pattern, the literal a text must contain for the pattern to be tried
_PATTERNS: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (subtype, re.compile(pattern), needle)
    for subtype, pattern, needle in (
        ("anthropic_api_key", _B + r"sk-ant-(?:api|admin|oat)\d\d-[A-Za-z0-9_\-]{32,}" + _E, "sk-"),
        (
            "openai_api_key",
            _B + r"sk-(?!ant-)(?:proj-|svcacct-|admin-)?(?=[A-Za-z0-9_\-]*\d)"
            r"(?=[A-Za-z0-9_\-]*[A-Za-z])[A-Za-z0-9_\-]{20,}" + _E,
            "sk-",
        ),
        ("stripe_secret_key", _B + r"[sr]k_(?:live|test)_[A-Za-z0-9]{20,}" + _E, "k_"),
        ("aws_access_key", r"(?<![A-Z0-9])(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])", "A"),
        (
            "aws_secret_key",
            r"(?i:aws_?secret_?(?:access_?)?key|secretaccesskey)[\"']?\s*[:=]\s*[\"']?"
            r"(?P<value>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])",
            "ecret",
        ),
        ("gcp_api_key", _B + r"AIza[0-9A-Za-z_\-]{35}" + _E, "AIza"),
        (
            "azure_storage_key",
            r"AccountKey=(?P<value>[A-Za-z0-9+/]{80,90}={0,2})",
            "AccountKey=",
        ),
        (
            "azure_sas_signature",
            r"[?&]sig=(?P<value>[A-Za-z0-9%+/]{40,}(?:%3D|=){0,2})",
            "sig=",
        ),
        ("azure_client_secret", _B + r"[A-Za-z0-9_~.\-]{3}\dQ~[A-Za-z0-9_~.\-]{31,34}" + _E, "Q~"),
        ("github_token", _B + r"gh[pousr]_[A-Za-z0-9]{36,255}" + _E, "gh"),
        ("github_token", _B + r"github_pat_[A-Za-z0-9_]{60,255}" + _E, "github_pat_"),
        ("gitlab_token", _B + r"gl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_\-]{20,}" + _E, "gl"),
        (
            "slack_token",
            _B + r"xox[abposr]-(?:\d+-)+[A-Za-z0-9]{10,}(?:-[A-Za-z0-9]+)*" + _E,
            "xox",
        ),
        (
            "slack_webhook",
            r"https://hooks\.slack\.com/services/T[A-Z0-9]{6,}/B[A-Z0-9]{6,}/[A-Za-z0-9]{20,}",
            "hooks.slack.com",
        ),
        (
            "private_key",
            r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
            r"(?:(?!-----)[\s\S]){16,8000}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?"
            r"PRIVATE KEY(?: BLOCK)?-----",
            "PRIVATE KEY",
        ),
        (
            "jwt",
            _B + r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{16,}" + _E,
            "eyJ",
        ),
        (
            "connection_string_password",
            r"\b[a-z][a-z0-9+.\-]{1,20}://[^\s:/@\"'<>]{1,64}:(?P<value>[^\s@/\"'<>\\]{3,128})@"
            r"[\w.\-\[\]]+",
            "://",
        ),
        (
            "connection_string_password",
            r"(?i:\b(?:password|pwd)\s*=\s*)(?P<value>[^;\s\"'<>]{3,128})(?=\s*;|\s*$|[\"'])"
            r"(?<=[^;\s\"'<>])",
            "=",
        ),
    )
)
_PLACEHOLDER = re.compile(
    r"^(?:\$\{?[\w]+\}?|\{\{?[^}]*\}?\}|<[^>]*>|%\(?\w+\)?s?|\*+|x+|\.+|"
    r"password|passwd|pass|pwd|secret|changeme|example|redacted|your_?password|"
    r"\[redacted\]|\[secret\]|\[password\])$",
    re.IGNORECASE,
)


def _jwt_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (binascii.Error, ValueError):
        return False
    return isinstance(decoded, dict) and "alg" in decoded


def find_secrets(text: str) -> Iterator[PiiFinding]:
    for subtype, pattern, needle in _PATTERNS:
        if needle not in text:
            continue
        for m in pattern.finditer(text):
            start, end = m.span("value") if "value" in pattern.groupindex else m.span()
            value = text[start:end]
            if _PLACEHOLDER.match(value) or len(set(value)) < 4:
                continue
            if subtype == "jwt" and not _jwt_ok(value):
                continue
            yield make_finding("secret", text, start, end, subtype)
