"""Driving Debian's chromium with Playwright, for the tests of pages a person uses.

Playwright's own browser download does not work here; ``/usr/bin/chromium`` does, with
the flags that keep it off the (closed) network.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hubtools import Hub
from playwright.sync_api import Browser, Page, sync_playwright

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_TIMEOUT_MS = 60_000


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def shot(page: Page, name: str, full_page: bool = True) -> Path:
    """Save the page as ``tests/artifacts/<name>.png``, for a person to look at."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def log_in(page: Page, hub: Hub, username: str, password: str) -> None:
    """Type the credentials on the hub's login page and press the button."""
    page.goto(f"{hub.url}/hub/login")
    page.get_by_label("Username:").fill(username)
    page.get_by_label("Password:").fill(password)
    page.get_by_role("button", name="Sign in").click()


def wait_for_lab(page: Page) -> None:
    """Wait (through the spawn) until the JupyterLab shell and its launcher are drawn."""
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_TIMEOUT_MS)
    page.wait_for_selector(".jp-Launcher", state="visible", timeout=LAB_TIMEOUT_MS)


@contextmanager
def lab_page(browser: Browser, hub: Hub, username: str) -> Iterator[Page]:
    """A page of a new browser context in which ``username`` logged in with the form and
    JupyterLab (with its launcher) is drawn; the context closes after the block."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, hub, username, hub.passwords[username])
        wait_for_lab(page)
        yield page
    finally:
        context.close()
