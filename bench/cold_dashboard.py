"""A cold load of the dashboards page in a real browser: bytes transferred, time to drawn
charts, and the server's CPU per load.

    .venv/bin/python bench/cold_dashboard.py [--runs 5] [--loads 5] [--dir /tmp/bench-cold]
        [--port 8765] [--reuse]

Starts the demo as ``make run`` does (``manage.py run_embedded``: embedded stores, the
demo MSP with its 30 days of history, edges and simulator) in a fresh ``--dir``
(``--reuse``: the demo an earlier run left there, which skips loading the history),
signs in once as the demo MSP admin (password and TOTP), then opens Acme's 30-day
dashboards ``--loads`` times per run, each in a new browser context that keeps the
session cookie but has an empty HTTP cache: what a person's first visit to the page
costs. Debian's Chromium, headless, through Playwright (never a downloaded browser).

Per load: the bytes on the wire (the page and every resource it loads, from the
browser's Resource Timing ``transferSize``), the milliseconds from the start of
navigation until every chart of the page is drawn, and the server's time to the first
byte of the page. A run reports the median of its loads and the demo process's CPU per
load; the report (bench/harness.py) gives the median of the runs and their spread, the
load average and the commit. The demo's own traffic keeps arriving, so the page's
queries run as for a live tenant (the panels' result cache rarely holds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import psutil
from playwright.sync_api import Browser, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import harness  # noqa: E402

from tests.browser.demo import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    charts_drawn,
    running_demo,
    sign_in,
)

PAGE = "/console/tenants/acme/dashboards/?range=30d"
TRANSFERRED = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  return nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0);
}"""
FIRST_BYTE = "() => performance.getEntriesByType('navigation')[0].responseStart"


def demo_process(port: int) -> psutil.Process:
    """The ``run_embedded`` process serving ``port`` (its worker and chDB run in it)."""
    for process in psutil.process_iter(["cmdline"]):
        cmdline = process.info["cmdline"] or []
        if "run_embedded" in cmdline and str(port) in cmdline:
            return process
    raise SystemExit("the demo process is not found")


def load(browser: Browser, base: str, session: object) -> dict[str, float]:
    cold = browser.new_context(base_url=base, storage_state=session)  # type: ignore[arg-type]
    tab = cold.new_page()
    tab.goto(PAGE)
    charts_drawn(tab)
    figures = {
        "charts_drawn_ms": tab.evaluate("() => performance.now()"),
        "first_byte_ms": tab.evaluate(FIRST_BYTE),
        "transferred_MB": tab.evaluate(TRANSFERRED) / 1e6,
    }
    cold.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    harness.add_arguments(parser)
    parser.add_argument("--loads", type=int, default=5, help="cold page loads per run")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-cold"))
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--reuse", action="store_true", help="keep the demo in --dir")
    options = parser.parse_args()
    with (
        running_demo(options.dir, options.port, fresh=not options.reuse) as base,
        sync_playwright() as playwright,
    ):
        server = demo_process(options.port)
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = sign_in(browser, base, "admin@msp.example").storage_state()
        load(browser, base, session)  # untimed: the server's first request of the page
        context = harness.start()

        def measure(run: int) -> dict[str, float]:
            # Only the server: harness.CpuClock adds this process, which waits on the browser.
            before = server.cpu_times()
            loads = [load(browser, base, session) for _ in range(options.loads)]
            after = server.cpu_times()
            cpu = (after.user + after.system) - (before.user + before.system)
            figures = {name: statistics.median(found[name] for found in loads) for name in loads[0]}
            figures["server_cpu_per_load_ms"] = cpu * 1000 / options.loads
            return figures

        runs = harness.repeat(measure, runs=options.runs)
        browser.close()
    context.notes.append(
        f"{options.loads} cold loads of {PAGE} per run (each a median of them); "
        "the demo's simulator, edges and in-process worker run meanwhile."
    )
    harness.report("Cold dashboard load (30 days)", runs, context=context, json_path=options.json)


if __name__ == "__main__":
    main()
