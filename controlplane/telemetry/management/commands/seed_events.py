import argparse
import datetime as dt
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper
from django.utils import timezone

from controlplane.telemetry.seeding import (
    default_until,
    format_duration,
    load_events,
    seed_fleet,
)

MAX_DAYS = 395  # the default retention: older events would be deleted at once


def positive(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def days(text: str) -> int:
    value = positive(text)
    if value > MAX_DAYS:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_DAYS}")
    return value


def moment(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO date and time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


class Progress:
    """A progress bar with the rate and the time left: redrawn in place on a terminal,
    one line per chunk otherwise (logs, CI)."""

    WIDTH = 30

    def __init__(self, total: int, out: OutputWrapper) -> None:
        self.total = total
        self.out = out
        self.tty = out.isatty()
        self.started = time.monotonic()

    def __call__(self, loaded: int, skipped: int) -> None:
        done = loaded + skipped
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = loaded / elapsed
        eta = format_duration((self.total - done) / rate) if rate else "?"
        filled = self.WIDTH * done // self.total
        line = (
            f"[{'#' * filled}{'.' * (self.WIDTH - filled)}] {done / self.total:4.0%} "
            f"{done:,}/{self.total:,} events  {rate:,.0f} events/s  ETA {eta}"
            + (f"  ({skipped:,} already loaded)" if skipped else "")
        )
        if self.tty:
            self.out.write("\r" + line, ending="\n" if done >= self.total else "")
        else:
            self.out.write(line)
        self.out.flush()


class Command(BaseCommand):
    help = (
        "Load a realistic synthetic history into both telemetry stores (Postgres ledger and "
        "ClickHouse spans, same event ids): tenants of Zipf-like sizes with departments, "
        "sites and agents, traces with a daily rhythm, several providers and models, tools, "
        "errors, timeouts and refusals. The same --seed gives the same data; running again "
        "skips what is loaded. For benchmarks: see bench/README.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--events", type=positive, default=10_000_000)
        parser.add_argument("--days", type=days, default=30)
        parser.add_argument("--tenants", type=positive, default=100)
        parser.add_argument("--agents", type=positive, default=2000)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--until",
            type=moment,
            default=None,
            help="end of the history (ISO, UTC if no offset); default: now, to the minute",
        )
        parser.add_argument(
            "--clickhouse-only",
            action="store_true",
            help="spans and their rollups only, no ledger rows: dashboards at scales whose "
            "ledger would not fit the disk (a run again relies on ClickHouse's deduplication)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants, agents = options["tenants"], options["agents"]
        if agents < 2 * tenants:
            raise CommandError(f"--agents must be at least twice --tenants ({2 * tenants})")
        until = options["until"] or default_until(timezone.now())
        started = time.monotonic()
        fleet = seed_fleet(tenants=tenants, agents=agents, seed=options["seed"])
        self.stdout.write(
            f"{len(fleet.tenants)} tenants, {len(fleet.agents)} agents ready "
            f"in {format_duration(time.monotonic() - started)}; loading {options['events']:,} "
            f"events over the {options['days']} days before {until.isoformat()}"
        )
        result = load_events(
            fleet,
            events=options["events"],
            days=options["days"],
            seed=options["seed"],
            until=until,
            progress=Progress(options["events"], self.stdout),
            ledger=not options["clickhouse_only"],
        )
        rate = result.loaded / result.seconds if result.seconds else 0.0
        self.stdout.write(
            f"loaded {result.loaded:,} events in {format_duration(result.seconds)} "
            f"({rate:,.0f} events/s); {result.skipped:,} were already loaded"
        )
