"""Stores for the analytics tests.

A process can host one chDB directory, so every test here uses the process's own,
``settings.CHDB_PATH`` (one per pytest-xdist worker, see controlplane/settings_test.py),
the same one ``get_store()`` opens for other tests. Tests are kept apart by a database
of their own, dropped afterwards. ``HttpStore`` talks over real HTTP to
``controlplane.analytics.chdb_server.ClickHouseHttpServer``, which runs the SQL on that same engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from controlplane.analytics.chdb_server import ClickHouseHttpServer
from controlplane.analytics.chdb_store import ChdbStore
from controlplane.analytics.http_store import HttpStore
from controlplane.analytics.migrations_runner import migrate
from controlplane.analytics.store import AnalyticsStore, reset_store


@pytest.fixture(scope="session")
def chdb_path() -> Path:
    return Path(settings.CHDB_PATH)


@pytest.fixture(scope="session")
def clickhouse_http(chdb_path: Path) -> Iterator[ClickHouseHttpServer]:
    with ClickHouseHttpServer(chdb_path, user="analytics", password="s3cret p@ss") as server:
        yield server


@pytest.fixture
def database() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def chdb_store(chdb_path: Path, database: str) -> Iterator[ChdbStore]:
    store = ChdbStore(chdb_path, database)
    yield store
    store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", {"db": database})
    store.close()


@pytest.fixture
def http_store(clickhouse_http: ClickHouseHttpServer, database: str) -> Iterator[HttpStore]:
    store = HttpStore(clickhouse_http.dsn, database)
    yield store
    store.command("DROP DATABASE IF EXISTS {db:Identifier} SYNC", {"db": database})
    store.close()


@pytest.fixture(params=["chdb", "http"])
def store(request: pytest.FixtureRequest) -> AnalyticsStore:
    """Each test using this runs once per implementation."""
    result: AnalyticsStore = request.getfixturevalue(f"{request.param}_store")
    return result


@pytest.fixture
def migrated(store: AnalyticsStore) -> AnalyticsStore:
    migrate(store)
    return store


@pytest.fixture
def fresh_get_store() -> Iterator[None]:
    """``get_store()`` rebuilt from the test's settings, and forgotten afterwards."""
    reset_store()
    yield
    reset_store()
