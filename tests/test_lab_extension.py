"""The JupyterLab extension mentorhub-lab (extensions/mentorhub_lab/): the course catalog tab.

First as configuration (JupyterLab of this environment lists the prebuilt extension as
enabled and OK), then in a real browser: one ``mentorhub demo`` hub and one headless
chromium for the module. learner1 opens the catalog from the launcher; the catalog frame
asks JupyterLab, by ``postMessage``, to open paths under ``courses/``; JupyterLab ignores
the same message from anywhere else. Each page state is saved as a PNG under
``tests/artifacts/``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import chromium, lab_page, shot
from hubtools import Hub
from playwright.sync_api import Browser, Frame, Page, expect

ROOT = Path(__file__).parent.parent
BUILT = ROOT / "extensions" / "mentorhub_lab" / "labextension"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "mentorhub-lab"
CATALOG_TAB = "#mentorhub-catalog"  # the catalog MainAreaWidget's id
CATALOG_FRAME = f"{CATALOG_TAB} iframe"
# how long a message that must be ignored is given to (wrongly) have an effect
IGNORED_WAIT_MS = 2_000


# --- configuration -----------------------------------------------------------------------
def test_jupyterlab_lists_mentorhub_lab_as_enabled_and_ok() -> None:
    result = subprocess.run(
        [str(Path(sys.prefix) / "bin" / "jupyter"), "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout + result.stderr)  # no colours
    assert re.search(r"^\s+mentorhub-lab v\S+ enabled OK\b", text, re.M), text


def test_installed_extension_is_the_committed_build() -> None:
    """What mentorhub installed is labextension/ as committed (no JS build at install)."""
    built = sorted(p.relative_to(BUILT).as_posix() for p in BUILT.rglob("*") if p.is_file())
    installed = sorted(
        p.relative_to(INSTALLED).as_posix() for p in INSTALLED.rglob("*") if p.is_file()
    )
    assert installed == built, "reinstall mentorhub after extensions/mentorhub_lab/build.sh"
    meta = json.loads((INSTALLED / "package.json").read_text())
    assert meta["name"] == "mentorhub-lab"
    assert (INSTALLED / meta["jupyterlab"]["_build"]["load"]).is_file()
    assert not [p for p in built if p.endswith(".map")], "the committed build has source maps"


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mh_lab_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with Hub(tmp_path_factory.mktemp("mh_lab") / "data").running() as hub:
        yield hub


@pytest.fixture(scope="module")
def mh_lab_browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def mh_lab_page(mh_lab_browser: Browser, mh_lab_hub: Hub) -> Iterator[Page]:
    """learner1, logged in with the form, with JupyterLab and its launcher drawn."""
    with lab_page(mh_lab_browser, mh_lab_hub, "learner1") as page:
        yield page


# --- helpers -----------------------------------------------------------------------------
def lab_shot(page: Page, name: str) -> Path:
    return shot(page, f"lab-{name}", full_page=False)


def contents_put(page: Page, url: str, model: dict) -> None:
    """Create ``url`` (``.../api/contents/<path>``) as JupyterLab's own requests would."""
    result = page.evaluate(
        """async ([url, model]) => {
            const xsrf = document.cookie.match(/(?:^|; )_xsrf=([^;]*)/);
            const headers = {"Content-Type": "application/json"};
            if (xsrf) headers["X-XSRFToken"] = decodeURIComponent(xsrf[1]);
            const r = await fetch(url, {method: "PUT", credentials: "same-origin", headers,
                                        body: JSON.stringify(model)});
            return {status: r.status, body: await r.text()};
        }""",
        [url, model],
    )
    assert result["status"] in (200, 201), result


def catalog_frame(page: Page) -> Frame:
    """The frame of the catalog tab (which must be open), once its page has loaded."""
    expect(page.locator(CATALOG_TAB)).to_be_visible()
    iframe = page.locator(CATALOG_FRAME)
    frame = iframe.element_handle().content_frame()
    assert frame is not None
    frame.wait_for_load_state()
    if not frame.url.endswith("/mentorhub/catalog"):
        # e.g. chrome-error://: JupyterHub's user servers forbid all framing by default
        # (frame-ancestors 'none'); the catalog page must allow its own origin ('self')
        lab_shot(page, "catalog-not-loaded")
        src = iframe.get_attribute("src") or ""
        csp = page.request.get(src).headers.get("content-security-policy")
        pytest.fail(f"the catalog did not load in its frame ({frame.url}); its CSP: {csp!r}")
    return frame


def open_catalog(page: Page) -> Frame:
    """Click the "Course catalog" card of a launcher (a new one unless one is open)."""
    if not page.locator(".jp-Launcher").is_visible():
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    page.locator(".jp-LauncherCard", has_text="Course catalog").click()
    return catalog_frame(page)


def breadcrumbs(page: Page) -> str:
    return page.locator("#filebrowser .jp-BreadCrumbs").text_content() or ""


# --- browser -----------------------------------------------------------------------------
def test_launcher_card_opens_the_catalog_in_one_main_area_tab(mh_lab_page: Page) -> None:
    page = mh_lab_page
    card = page.locator(".jp-LauncherCard", has_text="Course catalog")
    expect(card).to_be_visible()
    expect(card.locator("svg")).to_be_visible()  # its icon
    lab_shot(page, "1-launcher")

    frame = open_catalog(page)
    iframe = page.locator(CATALOG_FRAME)
    src = iframe.get_attribute("src") or ""
    assert src.endswith("/user/learner1/mentorhub/catalog"), src
    assert frame.url == src, (frame.url, src)
    sandbox = set((iframe.get_attribute("sandbox") or "").split())
    assert {"allow-scripts", "allow-same-origin", "allow-forms"} <= sandbox, sandbox
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Course catalog")
    expect(tab).to_have_count(1)
    expect(tab).to_have_class(re.compile(r"\blm-mod-current\b"))
    lab_shot(page, "2-catalog-tab")

    # from a new launcher again: the same tab comes to the front, no second one opens
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-addButton").first.click()
    expect(page.locator(CATALOG_TAB)).to_be_hidden()
    open_catalog(page)
    expect(tab).to_have_count(1)
    expect(page.locator(CATALOG_FRAME)).to_have_count(1)
    # and from the command palette, in the category mentorhub
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    page.locator(".lm-Menu-itemLabel", has_text="Activate Command Palette").click()
    palette = page.locator(".lm-CommandPalette")
    palette.locator("input").fill("Course catalog")
    item = palette.locator(".lm-CommandPalette-item", has_text="Course catalog")
    expect(item).to_have_count(1)
    expect(
        item.locator("xpath=preceding-sibling::li[contains(@class, 'lm-CommandPalette-header')][1]")
    ).to_have_text(re.compile("mentorhub", re.I))
    lab_shot(page, "3-command-palette")
    item.click()
    expect(page.locator(CATALOG_TAB)).to_be_visible()
    expect(tab).to_have_count(1)


def test_catalog_frame_opens_course_paths_and_other_messages_are_ignored(
    mh_lab_hub: Hub, mh_lab_page: Page
) -> None:
    page = mh_lab_page
    api = f"{mh_lab_hub.url}/user/learner1/api/contents"
    contents_put(page, f"{api}/courses", {"type": "directory"})
    contents_put(page, f"{api}/courses/lab-test", {"type": "directory"})
    notebook = {
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Hello from a course"}],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    contents_put(
        page, f"{api}/courses/lab-test/hello.ipynb", {"type": "notebook", "content": notebook}
    )
    frame = open_catalog(page)
    browser = page.locator("#filebrowser")
    if browser.is_visible():  # hide the file browser: opening a directory must show it
        page.locator(".jp-SideBar [data-id='filebrowser']").first.click()
    expect(browser).to_be_hidden()
    assert "courses" not in breadcrumbs(page)

    # the very message, from the top window itself (not the catalog): ignored
    page.evaluate(
        "window.postMessage({mentorhub: 'open', path: 'courses'}, window.location.origin)"
    )
    # from the catalog, but not of the protocol's shape or not under courses/: ignored
    for data in (
        {"mentorhub": "open", "path": "../etc"},
        {"mentorhub": "open", "path": "lab-test"},
        {"mentorhub": "open", "path": "courses/../.."},
        {"mentorhub": "delete", "path": "courses"},
        "courses",
    ):
        frame.evaluate("(d) => window.parent.postMessage(d, window.location.origin)", data)
    page.wait_for_timeout(IGNORED_WAIT_MS)
    assert "courses" not in breadcrumbs(page), breadcrumbs(page)
    expect(browser).to_be_hidden()
    expect(page.locator(CATALOG_TAB)).to_be_visible()
    lab_shot(page, "4-ignored-messages")

    # from the catalog frame: the file browser goes to the directory
    frame.evaluate(
        "window.parent.postMessage({mentorhub: 'open', path: 'courses'}, window.location.origin)"
    )
    expect(browser).to_be_visible()
    expect(browser.locator(".jp-BreadCrumbs")).to_contain_text("courses")
    expect(browser.locator(".jp-DirListing-item", has_text="lab-test")).to_be_visible()
    lab_shot(page, "5-filebrowser-in-courses")

    # a notebook: opened in its own tab
    frame.evaluate(
        "window.parent.postMessage("
        "{mentorhub: 'open', path: 'courses/lab-test/hello.ipynb'}, window.location.origin)"
    )
    expect(
        page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="hello.ipynb")
    ).to_be_visible(timeout=30_000)
    notebook_panel = page.locator(".jp-NotebookPanel")
    expect(notebook_panel.get_by_role("heading", name="Hello from a course")).to_be_visible()
    lab_shot(page, "6-notebook-opened")
