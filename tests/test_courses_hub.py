"""Courses end to end on a real hub: instructors publish repositories, learners find,
enrol and get the course in their own server's home, and updates never lose their work."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from conftest import git, make_course_repo
from gitserver import serve_git
from hubtools import Hub

SERVICE = "/services/mentorhub/api"
LESSON = "lessons/01-values-and-variables.ipynb"


@pytest.fixture(scope="module")
def mh_hub(tmp_path_factory):
    with Hub(tmp_path_factory.mktemp("courses") / "data").running() as hub:
        yield hub


@pytest.fixture(scope="module")
def mh_tokens(mh_hub: Hub) -> dict[str, str]:
    return {user: mh_hub.token(mh_hub.login(user)) for user in mh_hub.passwords}


@pytest.fixture(scope="module")
def mh_repos(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("repos")


@pytest.fixture(scope="module")
def mh_learner_servers(mh_hub: Hub, mh_tokens) -> dict[str, str]:
    for user in ("learner1", "learner2"):
        mh_hub.spawn(mh_tokens[user], user)
    return {user: f"{mh_hub.url}/user/{user}/" for user in ("learner1", "learner2")}


def call(method: str, url: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method, url, headers={"Authorization": f"token {token}"}, json=body, timeout=60
    )


@pytest.fixture(scope="module")
def mh_poetry(mh_hub, mh_tokens, mh_repos) -> Path:
    """An open course with one seat, published by the instructor from a local repository."""
    repo = make_course_repo(
        mh_repos,
        "poetry",
        title="Poetry in Python",
        tags=["writing", "python"],
        enrolment={"policy": "open", "capacity": 1},
    )
    r = mh_hub.publish(mh_tokens["instructor"], repo)
    assert r.returncode == 0, r.stderr
    return repo


def test_instructor_publishes_a_local_repository_with_the_cli(mh_poetry, mh_hub, mh_tokens) -> None:
    r = call("GET", f"{mh_hub.url}{SERVICE}/courses/poetry", mh_tokens["learner3"])
    assert r.status_code == 200
    assert r.json()["title"] == "Poetry in Python" and r.json()["version"] == 1


def test_instructor_publishes_from_a_git_url(mh_hub, mh_tokens, mh_repos) -> None:
    repo = make_course_repo(mh_repos, "stats", title="Statistics", tags=["math"])
    server = serve_git(repo, mh_repos / "served")
    try:
        url = f"{server.url}/course.git"
        r = call(
            "POST",
            f"{mh_hub.url}{SERVICE}/courses/publish",
            mh_tokens["instructor"],
            {"source": url, "ref": "main"},
        )
    finally:
        server.shutdown()
    assert r.status_code == 201, r.text
    assert r.json()["course"] == "stats" and r.json()["commit"] == git(repo, "rev-parse", "HEAD")


def test_learner_cannot_publish(mh_hub, mh_tokens, mh_repos) -> None:
    r = mh_hub.publish(mh_tokens["learner1"], make_course_repo(mh_repos, "sneaky"))
    assert r.returncode == 1
    assert "may not course:create" in r.stderr
    assert (
        call("GET", f"{mh_hub.url}{SERVICE}/courses/sneaky", mh_tokens["learner1"]).status_code
        == 404
    )


def test_invalid_repository_is_refused_with_every_problem_by_file(
    mh_hub, mh_tokens, mh_repos
) -> None:
    repo = make_course_repo(mh_repos, "broken", level="expert")
    (repo / "lessons" / "02-decisions.ipynb").write_text("{ not json")
    (repo / "outside").symlink_to("/etc/passwd")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "break it")
    r = mh_hub.publish(mh_tokens["instructor"], repo)
    assert r.returncode == 1
    assert "outside -> /etc/passwd" in r.stderr  # refused before anything is read
    (repo / "outside").unlink()
    git(repo, "commit", "-qam", "no symlink")
    r = mh_hub.publish(mh_tokens["instructor"], repo)
    assert r.returncode == 1
    assert "lessons/02-decisions.ipynb" in r.stderr and "mentorhub.yaml" in r.stderr
    assert (
        call("GET", f"{mh_hub.url}{SERVICE}/courses/broken", mh_tokens["instructor"]).status_code
        == 404
    )


def test_catalog_through_the_learners_server_searches_and_filters(
    mh_poetry, mh_hub, mh_tokens, mh_learner_servers
) -> None:
    base = mh_learner_servers["learner1"] + "mentorhub/api/courses"
    r = call("GET", base + "?q=poetry", mh_tokens["learner1"])
    assert r.status_code == 200
    assert [c["slug"] for c in r.json()["courses"]] == ["poetry"]
    r = call("GET", base + "?tag=writing&tag=python", mh_tokens["learner1"])
    assert [c["slug"] for c in r.json()["courses"]] == ["poetry"]


def test_enrolling_brings_the_course_home_and_the_last_seat_goes_once(
    mh_poetry, mh_hub, mh_tokens, mh_learner_servers
) -> None:
    r = call(
        "POST",
        mh_learner_servers["learner1"] + "mentorhub/api/courses/poetry/enrolment",
        mh_tokens["learner1"],
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "enrolled" and LESSON in r.json()["sync"]["added"]
    lesson = contents(
        mh_learner_servers["learner1"], mh_tokens["learner1"], f"courses/poetry/{LESSON}"
    )
    assert lesson["type"] == "notebook"
    r = call(
        "POST",
        mh_learner_servers["learner2"] + "mentorhub/api/courses/poetry/enrolment",
        mh_tokens["learner2"],
    )
    assert r.status_code == 409 and "full" in r.json()["message"]


def test_update_keeps_the_learners_edit_and_puts_upstream_beside_it(
    mh_poetry, mh_hub, mh_tokens, mh_learner_servers
) -> None:
    server, token = mh_learner_servers["learner1"], mh_tokens["learner1"]
    path = f"courses/poetry/{LESSON}"
    nb = contents(server, token, path)["content"]
    nb["cells"][0]["source"] = "My own notes, not the instructor's."
    assert (
        call(
            "PUT", f"{server}api/contents/{path}", token, {"type": "notebook", "content": nb}
        ).status_code
        == 200
    )

    lesson = json.loads((mh_poetry / LESSON).read_text())
    lesson["cells"][0]["source"] = "# Values and variables (revised)\n"
    (mh_poetry / LESSON).write_text(json.dumps(lesson, indent=1))
    (mh_poetry / "cheatsheet.md").write_text("# Cheatsheet, second edition\n")
    git(mh_poetry, "commit", "-qam", "second edition")
    r = mh_hub.publish(mh_tokens["instructor"], mh_poetry)
    assert r.returncode == 0 and "version 2" in r.stdout, r.stderr

    status = call("GET", f"{server}mentorhub/api/courses/poetry/sync", token).json()
    assert status["update_available"] is True and status["version"] == 2
    report = call("POST", f"{server}mentorhub/api/courses/poetry/sync", token).json()
    assert report["updated"] == ["cheatsheet.md"]
    [(kept, beside)] = report["kept_local"]
    assert kept == LESSON
    assert (
        contents(server, token, path)["content"]["cells"][0]["source"]
        == "My own notes, not the instructor's."
    )
    upstream = contents(server, token, f"courses/poetry/{beside}")["content"]
    assert upstream["cells"][0]["source"] == "# Values and variables (revised)\n"
    assert (
        call("GET", f"{server}mentorhub/api/courses/poetry/sync", token).json()["update_available"]
        is False
    )

    roster = call(
        "GET", f"{mh_hub.url}{SERVICE}/courses/poetry/roster", mh_tokens["instructor"]
    ).json()
    learner1 = next(m for m in roster["members"] if m["username"] == "learner1")
    assert learner1["synced_version"] == 2 and learner1["synced_at"]


def test_invite_and_approval_policies_over_http(mh_hub, mh_tokens, mh_repos) -> None:
    for slug, policy in (("algebra", "invite"), ("geometry", "approval")):
        repo = make_course_repo(mh_repos, slug, enrolment={"policy": policy})
        assert mh_hub.publish(mh_tokens["instructor"], repo).returncode == 0
    url = f"{mh_hub.url}{SERVICE}/courses"
    assert (
        call(
            "POST", f"{url}/algebra/enrolment", mh_tokens["learner3"], {"code": "guess"}
        ).status_code
        == 403
    )
    code = call("POST", f"{url}/algebra/invite-code", mh_tokens["instructor"]).json()["code"]
    assert call("POST", f"{url}/algebra/invite-code", mh_tokens["learner3"]).status_code == 403
    assert (
        call("POST", f"{url}/algebra/enrolment", mh_tokens["learner3"], {"code": code}).status_code
        == 201
    )

    assert call("POST", f"{url}/geometry/enrolment", mh_tokens["learner3"]).status_code == 202
    assert call("GET", f"{url}/geometry/edition", mh_tokens["learner3"]).status_code == 403
    assert (
        call("POST", f"{url}/geometry/requests/learner3", mh_tokens["learner3"]).status_code == 403
    )
    assert (
        call("POST", f"{url}/geometry/requests/learner3", mh_tokens["instructor"]).status_code
        == 201
    )
    assert call("GET", f"{url}/geometry/edition", mh_tokens["learner3"]).status_code == 200


def test_nothing_a_learner_can_fetch_holds_solutions_hidden_tests_or_the_repository(
    mh_poetry, mh_hub, mh_tokens, mh_learner_servers
) -> None:
    server, token = mh_learner_servers["learner1"], mh_tokens["learner1"]
    solution_lines = hidden_lines(mh_poetry)
    seen = [
        call("GET", f"{mh_hub.url}{SERVICE}/courses", token).text,
        call("GET", f"{mh_hub.url}{SERVICE}/courses/poetry", token).text,
        call("GET", f"{server}mentorhub/api/courses", token).text,
        call("GET", f"{server}mentorhub/catalog", token).text,  # the page source
    ]
    assignments: list[
        str
    ] = []  # the lessons may teach the same idioms; the releases must not hold answers
    edition = call("GET", f"{mh_hub.url}{SERVICE}/courses/poetry/edition", token).json()
    for version in (1, 2):
        for f in call(
            "GET", f"{mh_hub.url}{SERVICE}/courses/poetry/edition?version={version}", token
        ).json()["files"]:
            r = call(
                "GET",
                f"{mh_hub.url}{SERVICE}/courses/poetry/versions/{version}/files/{f['path']}",
                token,
            )
            assert r.status_code == 200
            (assignments if f["path"].startswith("assignments/") else seen).append(r.text)
    for f in edition["files"]:
        home = json.dumps(contents(server, token, f"courses/poetry/{f['path']}"))
        (assignments if f["path"].startswith("assignments/") else seen).append(home)
    text = "\n".join(seen + assignments)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert str(mh_poetry) not in text
    released = "\n".join(assignments)
    leaked = [line for line in solution_lines if line in released]
    assert leaked == []


def test_learner_outside_the_course_gets_none_of_its_files(mh_poetry, mh_hub, mh_tokens) -> None:
    url = f"{mh_hub.url}{SERVICE}/courses/poetry"
    assert call("GET", f"{url}/edition", mh_tokens["learner2"]).status_code == 403
    r = call("GET", f"{url}/versions/1/files/cheatsheet.md", mh_tokens["learner2"])
    assert r.status_code == 403 and "Cheatsheet" not in r.text


def contents(server: str, token: str, path: str) -> dict:
    r = call("GET", f"{server}api/contents/{path}?content=1", token)
    assert r.status_code == 200, (path, r.text)
    return r.json()


def hidden_lines(repo: Path) -> list[str]:
    """Distinctive lines inside solution and hidden-test regions of the source notebooks."""
    lines: list[str] = []
    for nb_path in (repo / "assignments").rglob("*.ipynb"):
        for cell in json.loads(nb_path.read_text())["cells"]:
            inside = False
            for line in "".join(cell["source"]).splitlines():
                if "### BEGIN SOLUTION" in line or "### BEGIN HIDDEN TESTS" in line:
                    inside = True
                elif "### END SOLUTION" in line or "### END HIDDEN TESTS" in line:
                    inside = False
                elif inside and len(line.strip()) > 12:
                    lines.append(line.strip())
    assert lines, "the demo assignments should have solutions and hidden tests"
    return lines


def test_anonymous_upload_is_refused_before_its_body_is_kept(mh_hub, mh_tokens) -> None:
    # straight to the service (the proxy would turn its hang-up into a 503 of its own)
    url = f"http://127.0.0.1:{mh_hub.port + 3}{SERVICE}/courses/publish"
    headers = {"Content-Type": "application/x-git-bundle"}
    try:
        r = requests.post(url, data=b"x" * (4 << 20), headers=headers, timeout=30)
        assert r.status_code == 401
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        pass  # the service answered 401 and hung up before the body was all sent
    editions = mh_hub.data_dir / "service" / "editions"
    assert not [p for p in editions.iterdir() if p.name.startswith(".upload-")]
    r = call(
        "POST",
        f"{mh_hub.url}{SERVICE}/courses/publish",
        mh_tokens["learner1"],
        {"source": "https://example.org/x.git"},
    )
    assert r.status_code in (403, 422)  # the service is still there, and still says no


def test_oversized_json_body_is_refused(mh_poetry, mh_hub, mh_tokens) -> None:
    url = f"http://127.0.0.1:{mh_hub.port + 3}{SERVICE}/courses/poetry/enrolment"
    headers = {"Authorization": f"token {mh_tokens['learner3']}"}
    try:
        r = requests.post(url, data=b"{" + b" " * (2 << 20) + b"}", headers=headers, timeout=30)
        assert r.status_code in (400, 413)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
        pass  # tornado hangs up on a body over the limit
    roster = call("GET", f"{mh_hub.url}{SERVICE}/courses/poetry/roster", mh_tokens["instructor"])
    assert "learner3" not in {m["username"] for m in roster.json()["members"]}


@pytest.mark.parametrize("version", ["latest", "-1", "1.5", "99"])
def test_bad_or_unknown_version_is_a_clear_error(mh_poetry, mh_hub, mh_tokens, version) -> None:
    r = call(
        "GET",
        f"{mh_hub.url}{SERVICE}/courses/poetry/edition?version={version}",
        mh_tokens["instructor"],
    )
    assert r.status_code == (404 if version == "99" else 400)
    assert r.json()["message"]
