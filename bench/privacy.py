"""Retention and data-subject search on one tenant's history.

    CHDB_PATH=/tmp/bench-privacy/chdb DATABASE_URL=postgres://... \\
        .venv/bin/python bench/privacy.py [--events 100000] [--runs 5]

Each run makes a new tenant and loads ``--events`` spans spread over the last 120 days
into the ledger and ClickHouse (its rollups fill themselves), one span in a thousand
naming jane@example.com in its prompt (not timed). Then, timed:

1. retention with 30 days of spans and 62 of ledger (the tenant's run: whole steps in
   the ledger, ClickHouse ``spans`` and nine rollups; no edge node), which removes about
   three quarters of the spans and half the ledger;
2. the search of a data-subject request for the email in PostgreSQL and ClickHouse
   (what ``find:postgres`` and ``find:clickhouse`` do, export rows included), over
   what retention left.

Reported through bench/harness.py: the median of the runs with their spread, process CPU
(this process and chDB's threads; PostgreSQL's own CPU is not in it) per thousand rows
removed, or spans left to search, the load average and the commit. The tenants of
earlier runs stay: ClickHouse rewrites the parts that hold a tenant's rows, so a later
run works on bigger tables, as a real deployment's would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")

import django  # noqa: E402

django.setup()

import orjson  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import harness  # noqa: E402
from billing.pricing import PriceBook  # noqa: E402
from compliance.privacy import clickhouse, subjects  # noqa: E402
from compliance.privacy.retention import continue_run, start_sweep  # noqa: E402
from compliance.privacy.services import retention_policy_set  # noqa: E402
from controlplane.analytics import get_store  # noqa: E402
from controlplane.audit.services import Actor  # noqa: E402
from controlplane.core.tenancy import all_tenants_context  # noqa: E402
from controlplane.telemetry.ledger import ledger_insert  # noqa: E402
from controlplane.telemetry.records import build_batch  # noqa: E402
from controlplane.telemetry.spans import spans_insert  # noqa: E402
from edge.identifiers import parse_identifier  # noqa: E402
from tenants.models import Tenant  # noqa: E402
from tenants.services import tenant_create  # noqa: E402

BENCH = Actor.system("bench")
JANE = parse_identifier("email", "jane@example.com")
BATCH = 5000


def _line(tenant: uuid.UUID, n: int, start: dt.datetime, agents: list[str]) -> bytes:
    nanos = int(start.timestamp() * 1e9)
    prompt = "order status for jane@example.com" if n % 1000 == 7 else f"question {n}"
    return orjson.dumps(
        {
            "v": 1,
            "event_id": str(uuid.uuid5(tenant, str(n))),
            "tenant_id": str(tenant),
            "agent_id": agents[n % len(agents)],
            "department_id": None,
            "device_id": str(uuid.UUID(int=8)),
            "site_id": str(uuid.UUID(int=9)),
            "edge_node_id": str(uuid.UUID(int=10)),
            "trace_id": f"{n // 3:032x}",
            "span_id": f"{n:016x}",
            "parent_span_id": "",
            "name": "chat",
            "kind": "model",
            "start_time_unix_nano": nanos,
            "end_time_unix_nano": nanos + 400_000_000,
            "status": "ok" if n % 25 else "error",
            "status_message": "",
            "provider": "openai",
            "model": "gpt-4o-mini",
            "operation": "chat",
            "tool": "",
            "input_tokens": 300 + n % 200,
            "output_tokens": 40 + n % 60,
            "data_classes": [],
            "request_body": prompt,
            "response_body": "Your order ships tomorrow.",
            "attributes": {},
            "resource": {},
            "received_at_unix_nano": nanos + 500_000_000,
        }
    )


def load(tenant: Tenant, events: int) -> None:
    now = timezone.now()
    agents = [str(uuid.uuid4()) for _ in range(20)]
    span = dt.timedelta(days=120) / events
    for first in range(0, events, BATCH):
        lines = [
            _line(tenant.pk, n, now - dt.timedelta(days=120) + n * span, agents)
            for n in range(first, min(events, first + BATCH))
        ]
        batch = build_batch(lines, prices=PriceBook([]), retention_days={})
        with all_tenants_context():
            ledger_insert(batch.ledger)
        spans_insert(batch.spans, dedup_token=str(uuid.uuid4()))


def timed(work: object) -> tuple[float, float, object]:
    wall = time.perf_counter()
    with harness.CpuClock() as cpu:
        result = work()  # type: ignore[operator]
    return time.perf_counter() - wall, cpu.seconds, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--events", type=int, default=100_000)
    args = parser.parse_args()
    context = harness.start()
    call_command("migrate", verbosity=0)
    call_command("migrate_clickhouse", verbosity=0)

    def measure(run: int) -> harness.Figures:
        tenant = tenant_create(actor=BENCH, slug=f"bench-{uuid.uuid4().hex[:10]}", name="Bench")
        load(tenant, args.events)
        for kind, days in (("spans", 30), ("bodies", 30), ("ledger", 62)):
            retention_policy_set(
                actor=BENCH, tenant=tenant, kind=kind, days=days,
                effective_from=timezone.now().date(),
            )  # fmt: skip

        def apply() -> object:
            [started] = start_sweep(trigger="manual", requested_by="bench", tenants=[tenant])
            return continue_run(started.pk)

        retention_s, retention_cpu, finished = timed(apply)
        removed = int(finished.total_removed)  # type: ignore[attr-defined]

        def find() -> object:
            counts, _ = subjects.find(tenant.pk, [JANE], rows=True)
            spans = clickhouse.matching_spans(tenant.pk, [JANE], limit=10000)
            return sum(counts.values()) + len(spans)

        search_s, search_cpu, _ = timed(find)
        (left,) = get_store().query(
            "SELECT count() AS n FROM spans WHERE tenant_id = {t:UUID}", {"t": tenant.pk}
        )
        return {
            "retention_ms": retention_s * 1000,
            "retention_cpu_ms_per_1000_rows": 1e6 * retention_cpu / max(removed, 1),
            "rows_removed": removed,
            "search_ms": search_s * 1000,
            "search_cpu_ms_per_1000_spans": 1e6 * search_cpu / max(int(left["n"]), 1),
        }

    runs = harness.repeat(measure, runs=args.runs)
    context.notes.append(f"{args.events:,} spans per tenant, a new tenant each run.")
    harness.report("Retention and data-subject search", runs, context=context, json_path=args.json)


if __name__ == "__main__":
    main()
