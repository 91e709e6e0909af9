"""Field encryption with a key ring.

``FIELD_ENCRYPTION_KEYS`` lists ``id:fernet-key`` entries, newest first. New values are
encrypted with the newest key and stored as ``<id>$<token>``, so a value names the key
that can open it; older keys keep decrypting until every value is re-encrypted.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class KeyRing:
    def __init__(self, entries: list[str]) -> None:
        if not entries:
            raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must hold at least one key")
        self._keys: dict[str, Fernet] = {}
        self._order: list[str] = []
        for entry in entries:
            key_id, sep, key = entry.partition(":")
            if not sep or not key_id or "$" in key_id:
                raise ImproperlyConfigured(
                    "FIELD_ENCRYPTION_KEYS entries must look like 'id:fernet-key'"
                )
            try:
                self._keys[key_id] = Fernet(key.encode())
            except ValueError:
                raise ImproperlyConfigured(
                    f"FIELD_ENCRYPTION_KEYS entry {key_id!r} is not a valid Fernet key"
                ) from None
            self._order.append(key_id)

    @property
    def current_key_id(self) -> str:
        return self._order[0]

    def encrypt(self, plaintext: str) -> str:
        key_id = self.current_key_id
        return f"{key_id}${self._keys[key_id].encrypt(plaintext.encode()).decode()}"

    def decrypt(self, stored: str) -> str:
        key_id, sep, token = stored.partition("$")
        fernet = self._keys.get(key_id) if sep else None
        if fernet is None:
            raise InvalidToken(f"no key {key_id!r} in FIELD_ENCRYPTION_KEYS")
        return fernet.decrypt(token.encode()).decode()

    def needs_rotation(self, stored: str) -> bool:
        return not stored.startswith(f"{self.current_key_id}$")


@lru_cache(maxsize=1)
def key_ring() -> KeyRing:
    return KeyRing(list(settings.FIELD_ENCRYPTION_KEYS))


class EncryptedColumn(NamedTuple):
    model: type[models.Model]
    column: str
    key_column: str | None  # the column that names the key, kept in step when re-encrypting

    @property
    def label(self) -> str:
        return f"{self.model._meta.label}.{self.column}"


# Every column the key ring encrypts, once: ``manage.py rotate_field_keys`` re-encrypts
# these and the C1.1 check (c1.encryption_at_rest) reports on these. A blank value means
# "no secret set". tests/gateway/test_keys.py fails when a model has an ``encrypted_*`` or
# ``*_enc`` field that is not listed.
_ENCRYPTED: tuple[tuple[str, str, str | None], ...] = (
    ("gateway.ProviderCredential", "encrypted_secret", "key_id"),
    ("agents.EdgeNode", "encrypted_token", None),
    ("accounts.TOTPDevice", "encrypted_secret", None),
    ("security.SecuritySettings", "webhook_secret_enc", None),
    ("api.IdempotencyRecord", "encrypted_response", None),
    ("privacy.DataSubjectRequest", "identifiers_enc", None),
    ("privacy.DataSubjectRequest", "export_enc", None),
)


def encrypted_columns() -> list[EncryptedColumn]:
    return [
        EncryptedColumn(apps.get_model(label), column, key) for label, column, key in _ENCRYPTED
    ]
