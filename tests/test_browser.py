"""Real-browser tests (Playwright driving Debian's chromium) of the pages a person uses.

One ``mentorhub demo`` hub and one headless chromium serve the whole module. Each page
state is also saved as a PNG under ``tests/artifacts/`` for a person to look at.
"""

from __future__ import annotations

import json
import pwd
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser import chromium, lab_page, log_in, shot, wait_for_lab
from conftest import make_course_repo
from hubtools import Hub
from playwright.sync_api import Browser, BrowserContext, Page, expect

SECRET_FILE = "learner2-private-notes.txt"


# --- fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def mh_browser_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    with Hub(tmp_path_factory.mktemp("mh_browser") / "data").running() as hub:
        yield hub


@pytest.fixture(scope="module")
def mh_browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture
def mh_fresh_context(mh_browser: Browser) -> Iterator[BrowserContext]:
    """A browser context with no cookies: a person who has not logged in."""
    context = mh_browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        yield context
    finally:
        context.close()


@pytest.fixture(scope="module")
def mh_learner1_page(mh_browser: Browser, mh_browser_hub: Hub) -> Iterator[Page]:
    """A page of a browser in which learner1 logged in with the form and has JupyterLab open."""
    with lab_page(mh_browser, mh_browser_hub, "learner1") as page:
        yield page


# --- helpers -----------------------------------------------------------------------------
def hub_cookies(context: BrowserContext) -> list[str]:
    return [c["name"] for c in context.cookies() if c["name"].startswith("jupyterhub")]


# --- tests -------------------------------------------------------------------------------
def test_learner_logs_in_with_the_form_and_jupyterlab_loads(
    mh_browser_hub: Hub, mh_fresh_context: BrowserContext
) -> None:
    hub = mh_browser_hub
    page = mh_fresh_context.new_page()
    page.goto(f"{hub.url}/hub/login")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shot(page, "browser-1-login-page")

    log_in(page, hub, "learner1", hub.passwords["learner1"])
    wait_for_lab(page)

    assert re.fullmatch(rf"{re.escape(hub.url)}/user/learner1/lab(/.*)?(\?.*)?", page.url), page.url
    expect(page.locator(".jp-LauncherCard").first).to_be_visible()
    # the file browser lists learner1's own server
    expect(page.locator("#filebrowser")).to_be_attached()
    shot(page, "browser-2-jupyterlab-loaded")


def test_logged_in_browser_gets_its_identity_and_course_role_from_the_extension(
    mh_browser_hub: Hub, mh_learner1_page: Page
) -> None:
    page = mh_learner1_page
    result = page.evaluate(
        """async (url) => {
            // as JupyterLab's own requests do: cookie auth plus the server's XSRF token
            const xsrf = document.cookie.match(/(?:^|; )_xsrf=([^;]*)/);
            const headers = xsrf ? {"X-XSRFToken": decodeURIComponent(xsrf[1])} : {};
            const r = await fetch(url, {credentials: "same-origin", headers});
            return {status: r.status, type: r.headers.get("content-type"), body: await r.text()};
        }""",
        f"{mh_browser_hub.url}/user/learner1/mentorhub/api/me",
    )
    assert result["status"] == 200, result
    assert "json" in (result["type"] or ""), result
    me = json.loads(result["body"])
    assert me["name"] == "learner1", me
    roles = {c["course"]: c["role"] for c in me["courses"]}
    assert roles.get("intro-python") == "learner", me


def test_wrong_password_shows_login_again_with_an_error_and_grants_no_session(
    mh_browser_hub: Hub, mh_fresh_context: BrowserContext
) -> None:
    hub = mh_browser_hub
    page = mh_fresh_context.new_page()
    log_in(page, hub, "learner1", hub.passwords["learner1"] + "-wrong")

    expect(page.locator(".login_error")).to_be_visible()
    expect(page.locator(".login_error")).to_contain_text("Invalid username or password")
    assert page.url.startswith(f"{hub.url}/hub/login"), page.url
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    shot(page, "browser-3-login-error")

    assert "jupyterhub-hub-login" not in hub_cookies(mh_fresh_context), mh_fresh_context.cookies()
    page.goto(f"{hub.url}/hub/home")
    assert page.url.startswith(f"{hub.url}/hub/login"), page.url
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.locator("#jp-main-dock-panel")).to_have_count(0)


def test_learner1_browser_cannot_open_learner2_server(
    mh_browser_hub: Hub, mh_learner1_page: Page
) -> None:
    hub = mh_browser_hub
    # learner2's server runs and holds a file of theirs, so the proxy does route to it
    session = hub.login("learner2")
    token = hub.token(session)
    hub.spawn(token, "learner2")
    base = f"{hub.url}/user/learner2/"
    r = requests.put(
        f"{base}api/contents/{SECRET_FILE}",
        headers={"Authorization": f"token {token}"},
        json={"type": "file", "format": "text", "content": "learner2 only"},
        timeout=30,
    )
    assert r.status_code in (200, 201), r.text

    page = mh_learner1_page.context.new_page()
    try:
        response = page.goto(f"{base}lab")
        page.wait_for_load_state("networkidle")
        shot(page, "browser-4-denied-learner2-server")
        text = page.content()
        assert response is not None
        # JupyterHub refuses: its 403 page, or a redirect back to the hub (never learner2's lab)
        forbidden_page = response.status == 403 and "You do not have permission" in text
        sent_back_to_hub = page.url.startswith(f"{hub.url}/hub/") and response.status < 400
        assert forbidden_page or sent_back_to_hub, (response.status, page.url, text[:500])
        assert SECRET_FILE not in text
        expect(page.locator("#jp-main-dock-panel")).to_have_count(0)
        assert "jupyterhub-user-learner2" not in hub_cookies(page.context)

        # nor can the session read learner2's files through the server's API
        api = page.request.get(f"{base}api/contents", max_redirects=0)
        assert api.status in (302, 403), api.status
        assert SECRET_FILE not in api.text()
    finally:
        page.close()


def test_catalog_page_finds_a_course_enrols_and_brings_it_home(
    mh_browser_hub: Hub, mh_learner1_page: Page, tmp_path: Path
) -> None:
    hub = mh_browser_hub
    instructor = hub.token(hub.login("instructor"))
    repo = make_course_repo(
        tmp_path,
        "data-science",
        title="Data science with pandas",
        tags=["python", "data"],
        level="intermediate",
    )
    published = hub.publish(instructor, repo)
    assert published.returncode == 0, published.stderr

    page = mh_learner1_page
    page.goto(f"{hub.url}/user/learner1/mentorhub/catalog")
    expect(page.get_by_role("heading", name="Course catalog")).to_be_visible()
    demo = page.locator("li.course[data-slug='intro-python']")
    expect(demo.get_by_text("Enrolled")).to_be_visible()
    shot(page, "browser-5-catalog")

    page.get_by_role("searchbox", name="Search courses").fill("pandas")
    page.get_by_role("button", name="Search").click()
    card = page.locator("li.course[data-slug='data-science']")
    expect(card).to_be_visible()
    expect(page.locator("li.course")).to_have_count(1)
    card.get_by_text("What's inside").click()
    expect(card.get_by_text("Problem set 1: the basics · 10 points", exact=False)).to_be_visible()

    card.get_by_role("button", name="Enrol").click()
    notice = page.locator("#notice")
    expect(notice).to_contain_text("data-science is in ~/courses/data-science (version 1)")
    expect(notice).to_contain_text("file(s) added")
    expect(card.get_by_text("Enrolled")).to_be_visible()
    shot(page, "browser-6-catalog-enrolled")

    r = requests.get(
        f"{hub.url}/user/learner1/api/contents/courses/data-science/lessons",
        headers={"Authorization": f"token {hub.token(hub.login('learner1'))}"},
        timeout=30,
    )
    assert r.status_code == 200
    assert "01-values-and-variables.ipynb" in {f["name"] for f in r.json()["content"]}


def test_instructor_publishes_from_their_home_and_approves_a_request(
    mh_browser_hub: Hub, mh_fresh_context: BrowserContext
) -> None:
    hub = mh_browser_hub
    home = Path(pwd.getpwnam("instructor").pw_dir)
    repo = make_course_repo(
        home, "my-course", title="My own course", enrolment={"policy": "approval"}
    )
    subprocess.run(["chown", "-R", "instructor:instructor", str(repo)], check=True)

    page = mh_fresh_context.new_page()
    log_in(page, hub, "instructor", hub.passwords["instructor"])
    wait_for_lab(page)
    page.goto(f"{hub.url}/user/instructor/mentorhub/teach")
    page.get_by_label("Repository").fill("my-course")
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#notice")).to_have_text(
        "my-course: published as version 1.", timeout=60_000
    )

    learner3 = hub.token(hub.login("learner3"))
    r = requests.post(
        f"{hub.url}/services/mentorhub/api/courses/my-course/enrolment",
        headers={"Authorization": f"token {learner3}"},
        timeout=30,
    )
    assert r.status_code == 202
    page.reload()
    card = page.locator("li.course[data-slug='my-course']")
    expect(card.get_by_role("button", name="Approve learner3")).to_be_visible()
    shot(page, "browser-7-teach")
    card.get_by_role("button", name="Approve learner3").click()
    expect(page.locator("#notice")).to_have_text("learner3 joined My own course.")
    expect(card.locator("table.roster")).to_contain_text("learner3")
    shot(page, "browser-8-teach-approved")
