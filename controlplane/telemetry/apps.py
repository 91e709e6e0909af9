from django.apps import AppConfig


class TelemetryConfig(AppConfig):
    """Pulling telemetry from edge nodes into the ledger (Postgres) and ClickHouse."""

    name = "controlplane.telemetry"
    label = "telemetry"
