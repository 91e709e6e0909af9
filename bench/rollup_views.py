"""What each materialized view on ``spans`` costs an insert, in chDB, with merges stopped.

    .venv/bin/python bench/rollup_views.py --capture CHDB_DIR   # once: a batch to replay
    .venv/bin/python bench/rollup_views.py [--rounds 7] [--merge] [--variants all,-spans_day_mv]

``--capture`` copies ``--rows`` (20,000) spans, as the ingest path inserted them, from a
chDB directory the ingest benchmark filled (a copy of it: chDB locks its directory) into
``--batch`` (Arrow IPC). Then each variant is a database of its own in one chDB under
``--dir`` with every ClickHouse migration of this checkout applied, merges stopped, and
some views dropped: ``none`` (no view), ``all``, ``-A+B`` (all but A and B: a view on a
table that a dropped view fed fires no more either), ``only:A+B`` (only those),
``with:FILE.sql`` (all, then that SQL: a schema change to try; the same variant twice
measures the noise). Each round inserts the batch once into every variant, in a shuffled
order, with a new deduplication token, and takes the process's CPU time (user + system:
chDB's threads; nothing else runs in it) around the insert. Reported: median and min CPU
per span of each variant, and the median's difference to ``all``. ``--merge``: then the
CPU of merging each variant's rollup tables once (``OPTIMIZE … FINAL``), per span.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import statistics
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "controlplane.settings")
os.environ.setdefault("CONTROLPLANE_VAR_DIR", "/tmp/bench-rollup-views-var")

import django  # noqa: E402
import pyarrow as pa  # noqa: E402

django.setup()

from controlplane.analytics.chdb_store import ChdbStore  # noqa: E402
from controlplane.analytics.migrations_runner import discover, render, split_statements  # noqa: E402
from controlplane.telemetry.records import SPAN_COLUMNS  # noqa: E402

_VIEW = re.compile(r"CREATE MATERIALIZED VIEW IF NOT EXISTS (\w+)")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-rollup-views"))
    parser.add_argument("--batch", type=Path, default=Path("/tmp/bench-rollup-views.arrow"))
    parser.add_argument("--capture", type=Path, help="a chDB directory to copy a batch from")
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--variants", default="")
    parser.add_argument(
        "--merge", action="store_true", help="then merge each variant's rollups once (FINAL)"
    )
    return parser.parse_args()


def capture(source: Path, batch: Path, rows: int) -> None:
    copy = batch.with_suffix(".chdb")
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(source, copy, symlinks=True, ignore=shutil.ignore_patterns("status"))
    for link in copy.rglob("*"):  # an Atomic database's links name the directory
        if link.is_symlink() and str(source.resolve()) in str(link.readlink()):
            target = str(link.readlink()).replace(str(source.resolve()), str(copy.resolve()))
            link.unlink()
            link.symlink_to(target)
    store = ChdbStore(copy, "controlplane")
    columns = ", ".join(SPAN_COLUMNS)
    table = store.query_arrow(
        f"SELECT {columns} FROM spans ORDER BY ingested_at, event_id LIMIT {{rows:UInt32}}",
        {"rows": rows},
    )
    store.close()
    with pa.OSFile(str(batch), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    shutil.rmtree(copy, ignore_errors=True)
    print(f"{table.num_rows} spans -> {batch}")


def views() -> list[str]:
    """Every view, in the order the migrations first create them."""
    names: list[str] = []
    for migration in discover():
        for statement in migration.statements:
            match = _VIEW.search(statement)
            if match and match.group(1) not in names:
                names.append(match.group(1))
    return names


def kept(variant: str, names: list[str]) -> set[str]:
    if variant == "all" or variant.startswith("with:"):
        return set(names)
    if variant == "none":
        return set()
    if variant.startswith("only:"):
        return set(variant.removeprefix("only:").split("+"))
    if not variant.startswith("-"):
        raise SystemExit(f"unknown variant {variant!r}")
    return set(names) - set(variant[1:].split("+"))


def build(store: ChdbStore, variant: str, names: list[str]) -> None:
    """The schema of ``variant`` in the store's database; merges stopped."""
    statements = [statement for migration in discover() for statement in migration.statements]
    if variant.startswith("with:"):
        statements += split_statements(Path(variant.removeprefix("with:")).read_text())
    for statement in statements:
        store.command(render(statement))
    for name in set(names) - kept(variant, names):
        store.command(f"DROP VIEW IF EXISTS {name}")
    for table in tables(store):
        store.command(f"SYSTEM STOP MERGES {table}")


def tables(store: ChdbStore) -> list[str]:
    return [
        row["name"]
        for row in store.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND engine LIKE '%MergeTree'"
        )
    ]


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    args = _args()
    if args.capture:
        capture(args.capture, args.batch, args.rows)
        return
    with pa.OSFile(str(args.batch), "rb") as source:
        batch = pa.ipc.open_stream(source).read_all()
    names = views()
    variants = [v for v in args.variants.split(",") if v] or (
        ["none", "all"] + [f"-{name}" for name in names]
    )
    shutil.rmtree(args.dir, ignore_errors=True)
    stores = [ChdbStore(args.dir, f"v{index}") for index in range(len(variants))]
    for store, variant in zip(stores, variants, strict=True):
        build(store, variant, names)
    samples: list[list[float]] = [[] for _ in variants]
    for _ in range(args.rounds):
        order = list(range(len(variants)))
        random.shuffle(order)
        for index in order:
            before = cpu()
            stores[index].insert("spans", batch, SPAN_COLUMNS, dedup_token=str(uuid.uuid4()))
            samples[index].append((cpu() - before) / batch.num_rows * 1e6)
    base = statistics.median(samples[variants.index("all")]) if "all" in variants else 0.0
    print(f"{batch.num_rows} spans per insert, {args.rounds} rounds; µs of CPU per span")
    print(f"{'variant':44} {'median':>8} {'min':>8} {'vs all':>8}")
    for variant, mine in zip(variants, samples, strict=True):
        median = statistics.median(mine)
        print(f"{variant:44} {median:8.2f} {min(mine):8.2f} {median - base:+8.2f}")
    if args.merge:
        print("merging each rollup table's parts into one (not spans): µs of CPU per span")
        for variant, store in zip(variants, stores, strict=True):
            spent = merge_rollups(store) / (batch.num_rows * args.rounds) * 1e6
            print(f"{variant:44} {spent:8.2f}")
    for store in stores:
        store.close()


def merge_rollups(store: ChdbStore) -> float:
    """CPU of ``OPTIMIZE … FINAL`` of every table but ``spans`` (the same in every
    variant), one table at a time."""
    spent = 0.0
    for table in tables(store):
        if table == "spans":
            continue
        store.command(f"SYSTEM START MERGES {table}")
        before = cpu()
        store.command(f"OPTIMIZE TABLE {table} FINAL")
        spent += cpu() - before
        store.command(f"SYSTEM STOP MERGES {table}")
    return spent


if __name__ == "__main__":
    main()
