"""A ClickHouse server over HTTP, through clickhouse-connect.

The client runs without an HTTP session id, so one client serves every thread (urllib3
pools the connections); ClickHouse refuses concurrent queries within one session.
Inserts are Arrow IPC streams compressed with zstd inside the stream, so the server
decompresses them with no HTTP-level compression to negotiate.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import pyarrow as pa

from controlplane.analytics.store import (
    INSERT_FORMAT,
    READ_FORMAT,
    SESSION_SETTINGS,
    AnalyticsStore,
    Params,
    StoreError,
    check_params,
    identifier,
    ipc_stream,
    quote_identifier,
    read_result,
)

T = TypeVar("T")


class HttpStore(AnalyticsStore):
    engine = "http"

    def __init__(
        self, dsn: str, database: str = "default", *, cluster: str = "", **client_options: Any
    ) -> None:
        """``dsn`` like ``http://user:password@host:8123/``; its path is ignored in favour
        of ``database``, which is created (``ON CLUSTER`` when ``cluster``) if missing."""
        import clickhouse_connect

        self.database = identifier(database, "database")
        on_cluster = f" ON CLUSTER {quote_identifier(cluster, 'cluster')}" if cluster else ""
        url = urlsplit(dsn)
        server = urlunsplit(url._replace(path="/"))
        options: dict[str, Any] = {"autogenerate_session_id": False, **client_options}
        self._client = _call(
            f"connecting to ClickHouse at {url.hostname}" + (f":{url.port}" if url.port else ""),
            lambda: clickhouse_connect.get_client(dsn=server, settings=SESSION_SETTINGS, **options),
        )
        try:
            self._ensure_database(on_cluster)
        except BaseException:
            self._client.close()
            raise
        self._client.database = self.database

    def _ensure_database(self, on_cluster: str) -> None:
        # Checked first: a user allowed to use the database may not be allowed to create one.
        exists = _call(
            "looking up the database",
            lambda: self._client.command(
                "SELECT count() FROM system.databases WHERE name = {db:String}",
                parameters={"db": self.database},
            ),
        )
        if not exists:
            _call(
                "creating the database",
                lambda: self._client.command(
                    "CREATE DATABASE IF NOT EXISTS {db:Identifier}" + on_cluster,
                    parameters={"db": self.database},
                ),
            )

    def query_arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        parameters = check_params(sql, params)
        data = _call("query", lambda: self._client.raw_query(sql, parameters, fmt=READ_FORMAT))
        return read_result(data)

    def command(self, sql: str, params: Params | None = None) -> None:
        parameters = check_params(sql, params)
        _call("statement", lambda: self._client.command(sql, parameters))

    def _insert_arrow(self, table: str, data: pa.Table, dedup_token: str | None) -> None:
        payload = ipc_stream(data, compression="zstd")
        settings = {"insert_deduplication_token": dedup_token} if dedup_token is not None else None
        _call(
            f"insert into {table}",
            lambda: self._client.raw_insert(
                quote_identifier(table, "table name"),
                data.column_names,
                payload,
                settings=settings,
                fmt=INSERT_FORMAT,
            ),
        )

    def close(self) -> None:
        self._client.close()


def _call(context: str, operation: Callable[[], T]) -> T:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    try:
        return operation()
    except ClickHouseError as exc:
        raise StoreError.wrap(exc, context) from exc
