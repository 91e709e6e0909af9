"""The demo, started as ``make run`` starts it, for the scripts that look at it in a
browser: ``tests/browser/demo_screenshots.py`` (the screenshots in docs/) and
``bench/cold_dashboard.py``. Not a test module: nothing here runs under pytest."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyotp
from playwright.sync_api import Browser, BrowserContext, Page

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
]
PASSWORD = "demo-password-2026"  # the demo's published logins (README)
TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@contextmanager
def running_demo(
    folder: Path, port: int, *, timeout: float = 600, fresh: bool = True
) -> Iterator[str]:
    """``manage.py run_embedded`` in a fresh ``folder`` (its own embedded stores, the demo
    MSP with its month of history, edges and simulator; ``fresh=False`` keeps what an
    earlier run left there); yields its base URL once it answers, and stops everything
    it started afterwards."""
    if fresh:
        shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "CONTROLPLANE_VAR_DIR": str(folder), "CHDB_PATH": str(folder / "chdb")}
    for name in ("DATABASE_URL", "REDIS_URL", "CLICKHOUSE_URL"):
        env.pop(name, None)
    with (folder / "demo.log").open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "manage.py", "run_embedded", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.monotonic()
            while True:
                try:
                    urllib.request.urlopen(f"{base}/livez", timeout=2)
                    break
                except OSError:
                    if time.monotonic() - started > timeout or demo.poll() is not None:
                        message = f"the demo did not start; see {folder / 'demo.log'}"
                        raise SystemExit(message) from None
                    time.sleep(1)
            print(f"demo up after {time.monotonic() - started:.0f} s at {base}")
            yield base
        finally:
            os.killpg(demo.pid, signal.SIGTERM)
            demo.wait(timeout=60)


def sign_in(browser: Browser, base: str, email: str, **options: object) -> BrowserContext:
    """A browser context signed in as the demo account ``email`` (with its second factor
    when it has one)."""
    context = browser.new_context(base_url=base, **options)  # type: ignore[arg-type]
    page = context.new_page()
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    second_factor = page.get_by_label("Authentication code")
    signed_in = page.get_by_role("button", name="Sign out")
    second_factor.or_(signed_in).first.wait_for()
    if second_factor.is_visible():
        second_factor.fill(pyotp.TOTP(TOTP_SECRET).now())
        page.get_by_role("button", name="Verify").click()
    signed_in.wait_for()
    page.close()
    return context


def charts_drawn(page: Page, timeout: float = 60_000) -> None:
    """Wait until every chart of the page holds plotly's drawing."""
    page.wait_for_function(
        """() => [...document.querySelectorAll('.chart[data-chart]')]
                  .every(c => c.querySelector('.main-svg'))""",
        timeout=timeout,
    )
