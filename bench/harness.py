"""What every benchmark reports the same way: each measurement repeated (5 runs by
default), the median with its spread, CPU per unit of work next to the throughput or
latency, the load average before and after, and the commit measured.

A benchmark script defines one measurement, a function of the run number that returns
its figures, and hands it to `repeat`:

    parser = argparse.ArgumentParser()
    harness.add_arguments(parser)            # --runs (5), --json FILE
    args = parser.parse_args()
    runs = harness.repeat(measure_once, runs=args.runs)
    harness.report("Ingest, one worker", runs, args=args)

A figure is a name and a value; the name's suffix says its unit and which way is better
(`_per_s` is a rate, `_ms`/`_us` a time, `_pct` a share). CPU per unit of work is a
figure like any other: measure it with `CpuClock` around the work and divide.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RUNS = 5

Figures = dict[str, float]


@dataclass(frozen=True)
class Summary:
    name: str
    median: float
    low: float
    high: float
    values: tuple[float, ...]

    @property
    def spread_pct(self) -> float:
        """(max - min) / median: how far apart the runs were."""
        return 100 * (self.high - self.low) / self.median if self.median else 0.0


@dataclass
class Context:
    commit: str
    date: str
    machine: str
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    notes: list[str] = field(default_factory=list)


def commit() -> str:
    """The checkout's commit, with `+dirty` when files differ from it."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=REPO,
        capture_output=True,
        text=True,
    ).stdout.strip()
    return f"{head or 'unknown'}{'+dirty' if dirty else ''}"


def machine() -> str:
    return (
        f"{psutil.cpu_count()} CPU, {psutil.virtual_memory().total / 2**30:.0f} GiB, "
        f"Python {platform.python_version()}"
    )


class CpuClock:
    """CPU seconds (user + system) spent by processes while the block ran.

    By default this process and its children that have exited; pass other processes
    (an edge, the Postgres server and its backends) to count the whole stack.
    """

    def __init__(self, processes: Iterable[psutil.Process] = ()) -> None:
        self.processes = list(processes)
        self.seconds = 0.0

    def _now(self) -> float:
        total = 0.0
        own = psutil.Process().cpu_times()
        total += own.user + own.system + own.children_user + own.children_system
        for process in self.processes:
            try:
                times = process.cpu_times()
                total += times.user + times.system
                for child in process.children(recursive=True):
                    child_times = child.cpu_times()
                    total += child_times.user + child_times.system
            except psutil.NoSuchProcess:
                continue
        return total

    def __enter__(self) -> CpuClock:
        self._start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = self._now() - self._start


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--runs",
        type=int,
        default=DEFAULT_RUNS,
        help=f"measurements to take (default {DEFAULT_RUNS}); the report gives their median",
    )
    parser.add_argument("--json", type=Path, help="also write the runs and summary here")


def repeat(measure: Callable[[int], Figures], *, runs: int = DEFAULT_RUNS) -> list[Figures]:
    """Call `measure(run)` `runs` times, printing each run's figures as it ends."""
    if runs < 1:
        raise SystemExit("--runs must be 1 or more")
    results: list[Figures] = []
    for run in range(1, runs + 1):
        figures = measure(run)
        print(
            f"  run {run}/{runs}: "
            + ", ".join(f"{name} {_format(name, value)}" for name, value in figures.items()),
            file=sys.stderr,
            flush=True,
        )
        results.append(figures)
    return results


def summarize(runs: Sequence[Figures]) -> list[Summary]:
    names = list(dict.fromkeys(name for figures in runs for name in figures))
    summaries = []
    for name in names:
        values = tuple(figures[name] for figures in runs if name in figures)
        summaries.append(Summary(name, statistics.median(values), min(values), max(values), values))
    return summaries


def start() -> Context:
    """Read the context before the first run (the load it started under)."""
    return Context(
        commit=commit(),
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        load_before=os.getloadavg(),
    )


def report(
    title: str,
    runs: Sequence[Figures],
    *,
    context: Context,
    json_path: Path | None = None,
) -> str:
    """Print (and return) the markdown block bench/README.md keeps."""
    context.load_after = os.getloadavg()
    summaries = summarize(runs)
    lines = [
        f"### {title}",
        "",
        f"{context.date}, commit `{context.commit}`, {context.machine}; "
        f"load average {_load(context.load_before)} before, {_load(context.load_after)} after; "
        f"median of {len(runs)} runs.",
        "",
        "| figure | median | min .. max | spread |",
        "| --- | ---: | ---: | ---: |",
    ]
    for summary in summaries:
        lines.append(
            f"| {summary.name} | {_format(summary.name, summary.median)} | "
            f"{_format(summary.name, summary.low)} .. {_format(summary.name, summary.high)} | "
            f"{summary.spread_pct:.0f}% |"
        )
    lines.extend(f"\n{note}" for note in context.notes)
    text = "\n".join(lines)
    print(text)
    if json_path is not None:
        json_path.write_text(
            json.dumps(
                {
                    "title": title,
                    "commit": context.commit,
                    "date": context.date,
                    "machine": context.machine,
                    "load_before": context.load_before,
                    "load_after": context.load_after,
                    "runs": list(runs),
                    "summary": {
                        s.name: {"median": s.median, "min": s.low, "max": s.high} for s in summaries
                    },
                },
                indent=2,
            )
        )
    return text


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{value:.2f}" for value in load)


def _format(name: str, value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"
