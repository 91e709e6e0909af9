"""A cold load of the dashboards page in a real browser: bytes transferred and time to
drawn charts.

    .venv/bin/python bench/cold_dashboard.py [--runs 5] [--dir /tmp/bench-cold] [--port 8765]

Starts the demo as ``make run`` does (``manage.py run_embedded``: embedded stores, the
demo MSP with its 30 days of history, edges and simulator) in a fresh ``--dir``, signs in
once as the demo MSP admin (password and TOTP), then ``--runs`` times opens Acme's
30-day dashboards in a new browser context that keeps the session cookie but has an
empty HTTP cache: what a person's first visit to the page costs. Debian's Chromium,
headless, through Playwright (never a downloaded browser).

Per run: the bytes on the wire (the page and every resource it loads, from the browser's
Resource Timing ``transferSize``), and the milliseconds from the start of navigation
until every chart of the page is drawn. Prints the median and spread of each, the load
average and the commit.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.browser.demo import CHROMIUM, CHROMIUM_ARGS, charts_drawn, running_demo, sign_in  # noqa: E402

PAGE = "/console/tenants/acme/dashboards/?range=30d"
TRANSFERRED = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const resources = performance.getEntriesByType('resource');
  return nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0);
}"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-cold"))
    parser.add_argument("--port", type=int, default=8765)
    options = parser.parse_args()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    with running_demo(options.dir, options.port) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        session = sign_in(browser, base, "admin@msp.example").storage_state()
        sizes, times = [], []
        for _ in range(options.runs):
            cold = browser.new_context(base_url=base, storage_state=session)
            tab = cold.new_page()
            tab.goto(PAGE)
            charts_drawn(tab)
            times.append(tab.evaluate("() => performance.now()"))
            sizes.append(tab.evaluate(TRANSFERRED))
            cold.close()
        browser.close()
    load = os.getloadavg()
    print(f"commit {commit}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    print(
        f"transferred: median {statistics.median(sizes) / 1e6:.2f} MB "
        f"(spread {min(sizes) / 1e6:.2f}-{max(sizes) / 1e6:.2f} MB) over {options.runs} runs"
    )
    print(
        f"charts drawn: median {statistics.median(times):.0f} ms "
        f"(spread {min(times):.0f}-{max(times):.0f} ms)"
    )


if __name__ == "__main__":
    main()
