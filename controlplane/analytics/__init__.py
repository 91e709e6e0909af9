"""ClickHouse access for the whole app: ``get_store()`` and the numbered SQL migrations."""

from controlplane.analytics.store import AnalyticsStore, StoreError, get_store, reset_store

__all__ = ["AnalyticsStore", "StoreError", "get_store", "reset_store"]
