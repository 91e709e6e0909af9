"""The three-domain dashboards (issue 5): utilization, faults and operations.

``queries`` reads ClickHouse's per-minute rollup ``spans_minute`` (never the raw spans);
``operations`` reads PostgreSQL (edge nodes, configuration changes, credentials).
The pages live in ``controlplane.web.dashboard_views``.
"""
