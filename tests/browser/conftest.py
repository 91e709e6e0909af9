"""Browser tests: Debian's headless Chromium, driven by Playwright, against a live server.

The live server runs in a thread of the test process: it sees the committed test
database (pytest-django makes ``live_server`` tests transactional) and the same
in-process chDB, so spans inserted by a test show on its pages.

Screenshots go to ``$SCREENSHOT_DIR`` when it is set (``make screenshots`` sets it to
docs/screenshots), otherwise to the test's tmp_path.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

from controlplane.accounts import mfa
from controlplane.accounts.models import TOTPDevice, User
from tests.conftest import PASSWORD
from tests.web.conftest import Fleet
from tests.web.telemetry import ingest, span
from tests.web.test_traces import a_trace, new_trace_id

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's
# services, which this machine cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
# Generous waits: CI runs the suite on two busy cores.
TIMEOUT_MS = 15_000
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Playwright's sync API keeps an asyncio event loop
    running in this thread while it is started, so Django's async-safety check would
    refuse the ORM calls the tests make between browser steps; the ORM is only ever
    used synchronously here, so the check is switched off, for this module's tests only
    (other tests in the same pytest-xdist worker keep it)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium); .ci/run installs it")
    with pytest.MonkeyPatch.context() as patch, sync_playwright() as playwright:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, live_server: Any) -> Iterator[Page]:
    """A fresh browser tab (no cookies) whose relative URLs go to the live server."""
    context = browser.new_context(
        base_url=str(live_server.url), viewport=VIEWPORT, timezone_id="UTC", locale="en-US"
    )
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save the whole page as ``<name>.png``."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        return path

    return take


def totp_code(user: User) -> str:
    """The code the user's authenticator app shows now."""
    secret = mfa.device_secret(TOTPDevice.objects.get(user=user))
    return pyotp.TOTP(secret, interval=mfa.TOTP_STEP_SECONDS, digits=mfa.TOTP_DIGITS).now()


def sign_in(
    page: Page,
    user: User,
    *,
    screenshot: Callable[[Page, str], Path] | None = None,
) -> None:
    """Sign in through the real login page, and the two-factor step when it comes."""
    page.goto("/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill(PASSWORD)
    if screenshot:
        screenshot(page, "login")
    page.get_by_role("button", name="Sign in").click()
    second_factor = page.get_by_role("heading", name="Two-factor sign-in")
    signed_in = page.get_by_role("button", name="Sign out")
    expect(second_factor.or_(signed_in)).to_be_visible()
    if second_factor.is_visible():
        page.get_by_label("Authentication code").fill(totp_code(user))
        if screenshot:
            screenshot(page, "mfa")
        page.get_by_role("button", name="Verify").click()
    expect(signed_in).to_be_visible()


def busy_day(fleet: Fleet, now: dt.datetime) -> int:
    """A day of one agent's work, for charts with some shape: one to five model calls
    an hour and a failing run every six hours. Returns the number of spans, which is
    what the dashboards count as requests."""
    lines = []
    for hours_ago in range(1, 24):
        for call in range(1 + (hours_ago * 7) % 5):
            lines.append(
                span(
                    fleet,
                    trace_id=new_trace_id(),
                    span_id=f"{call + 1:016x}",
                    start=now - dt.timedelta(hours=hours_ago, minutes=7 * call),
                    name="chat gpt-4o-mini",
                    kind="model",
                    provider="openai",
                    model="gpt-4o-mini",
                    input_tokens=400 + 90 * ((hours_ago + call) % 7),
                    output_tokens=60 + 25 * (hours_ago % 4),
                )
            )
    ingest(lines)
    failing_runs = range(3, 24, 6)
    for hours_ago in failing_runs:
        a_trace(fleet, new_trace_id(), now - dt.timedelta(hours=hours_ago, minutes=30))
    return len(lines) + 3 * len(failing_runs)
