"""Insert throughput of ChdbStore: ``python -m tests.analytics.bench_insert [rows] [runs]``.

Batches of telemetry spans of ~2 KB each, built the way the pipeline builds them (an
Arrow table, UUIDs as text), into the 0001 schema with its materialized view, each
batch with its own dedup token. Uses a temporary chDB directory.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid

import pyarrow as pa

from controlplane.analytics.chdb_store import ChdbStore
from controlplane.analytics.migrations_runner import migrate
from tests.analytics.helpers import SPAN_COLUMNS, span


def batch(rows: int) -> pa.Table:
    tenants = [uuid.uuid4() for _ in range(20)]
    spans = []
    for i in range(rows):
        body = os.urandom(300).hex()  # incompressible part, like real prompts and answers
        spans.append(
            span(
                tenant_id=tenants[i % len(tenants)],
                agent_id=tenants[(i * 7) % len(tenants)],
                request_body='{"messages": "' + body + '"}' + " lorem ipsum" * 30,
                response_body='{"content": "' + body[:400] + '"}' + " dolor sit" * 20,
                attributes='{"gen_ai.system": "openai", "k": "' + "v" * 150 + '"}',
            )
        )
    columns = {name: [item[name] for item in spans] for name in SPAN_COLUMNS}
    for name in ("tenant_id", "event_id", "department_id", "agent_id", "site_id", "edge_node_id"):
        columns[name] = [str(value) for value in columns[name]]
    return pa.table(columns)


def main(rows: int = 10_000, runs: int = 5) -> None:
    with tempfile.TemporaryDirectory() as directory:
        store = ChdbStore(directory, "bench")
        migrate(store)
        table = batch(rows)
        size = (
            sum(
                len(v)
                for n in ("request_body", "response_body", "attributes")
                for v in table.column(n).to_pylist()
            )
            / rows
        )
        print(f"{rows} rows, ~{size:.0f} bytes of text each")
        for compression in (None, "lz4", "zstd"):
            store.insert_compression = compression
            times = []
            for run in range(runs):
                fresh = table.set_column(
                    1, "event_id", pa.array([str(uuid.uuid4()) for _ in range(rows)])
                )
                started = time.perf_counter()
                store.insert("spans", fresh, SPAN_COLUMNS, dedup_token=f"{compression}-{run}")
                times.append(time.perf_counter() - started)
            best, median = min(times), statistics.median(times)
            print(
                f"compression={compression}: median {median * 1000:.0f} ms "
                f"({rows / median:,.0f} rows/s), best {rows / best:,.0f} rows/s"
            )
        store.close()


if __name__ == "__main__":
    main(*(int(arg) for arg in sys.argv[1:]))
