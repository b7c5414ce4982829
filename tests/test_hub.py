"""The whole chain on a real hub: login, spawn, extension -> service, and every denial.

One hub for the module (``mentorhub demo``, its service database on PostgreSQL);
learner1's and learner2's servers are spawned once and shared by the tests.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import requests
from conftest import pg_database
from hubtools import Hub, execute

SERVICE = "/services/mentorhub/api"


@pytest.fixture(scope="module")
def mh_hub(tmp_path_factory):
    with pg_database() as url:
        env = {"MENTORHUB_SERVICE_DB_URL": url}
        with Hub(tmp_path_factory.mktemp("hub") / "data", env=env).running() as hub:
            yield hub


@pytest.fixture(scope="module")
def mh_tokens(mh_hub: Hub) -> dict[str, str]:
    """An API token per demo account, made by that account after logging in."""
    return {user: mh_hub.token(mh_hub.login(user)) for user in mh_hub.passwords}


@pytest.fixture(scope="module")
def mh_servers(mh_hub: Hub, mh_tokens: dict[str, str]) -> dict[str, str]:
    """learner1's and learner2's running servers: user -> base URL."""
    for user in ("learner1", "learner2"):
        mh_hub.spawn(mh_tokens[user], user)
    return {user: f"{mh_hub.url}/user/{user}/" for user in ("learner1", "learner2")}


def get(url: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.get(url, headers=headers, timeout=30, allow_redirects=False, **kw)


def send(method: str, url: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.request(
        method, url, headers={"Authorization": f"token {token}"}, json=body, timeout=30
    )


def test_every_demo_account_logs_in_over_http(mh_hub: Hub) -> None:
    assert set(mh_hub.passwords) == {"instructor", "mentor", "learner1", "learner2", "learner3"}
    for user in mh_hub.passwords:
        s = mh_hub.login(user)
        assert mh_hub.whoami(s) == user


def test_wrong_password_is_refused(mh_hub: Hub) -> None:
    s = requests.Session()
    s.get(f"{mh_hub.url}/hub/login", timeout=10)
    r = s.post(
        f"{mh_hub.url}/hub/login",
        data={
            "username": "learner1",
            "password": mh_hub.passwords["learner2"],
            "_xsrf": s.cookies.get("_xsrf"),
        },
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 403
    assert get(f"{mh_hub.url}/hub/api/user", cookies=s.cookies).status_code == 403


def test_identity_and_roles_through_the_users_own_server(mh_hub, mh_tokens, mh_servers) -> None:
    r = get(mh_servers["learner1"] + "mentorhub/api/me", mh_tokens["learner1"])
    assert r.status_code == 200, r.text
    assert r.json() == {
        "name": "learner1",
        "admin": False,
        "courses": [
            {"course": "intro-python", "title": "Introduction to Python", "role": "learner"}
        ],
    }


def test_identity_and_roles_through_the_service(mh_hub, mh_tokens) -> None:
    for user, role in [("mentor", "mentor"), ("instructor", "instructor"), ("learner3", "learner")]:
        r = get(f"{mh_hub.url}{SERVICE}/me", mh_tokens[user])
        assert r.status_code == 200
        assert r.json()["name"] == user
        assert r.json()["courses"][0]["role"] == role


def test_course_roles_are_mirrored_into_hub_groups(mh_hub, mh_tokens) -> None:
    groups = get(f"{mh_hub.url}/hub/api/user", mh_tokens["learner1"]).json()["groups"]
    assert "course-intro-python-learners" in groups


@pytest.mark.parametrize(
    "path", [f"{SERVICE}/me", f"{SERVICE}/courses", f"{SERVICE}/courses/intro-python/roster"]
)
def test_anonymous_gets_401_and_no_data_from_the_service(mh_hub, path) -> None:
    r = get(mh_hub.url + path)
    assert r.status_code == 401
    assert set(r.json()) == {"status", "message"}


def test_anonymous_gets_no_data_from_a_users_server(mh_hub, mh_servers) -> None:
    r = get(mh_servers["learner1"] + "mentorhub/api/me")
    assert r.status_code in (302, 401, 403)
    assert "learner" not in r.text or r.status_code == 302 and "login" in r.headers["Location"]


def test_learner_cannot_use_another_learners_server(mh_hub, mh_tokens, mh_servers) -> None:
    r = get(mh_servers["learner1"] + "mentorhub/api/me", mh_tokens["learner2"])
    assert r.status_code == 403
    assert "intro-python" not in r.text


@pytest.mark.parametrize("token", ["forged", "0" * 32, "learner1-but-not-really"])
def test_forged_token_gets_401_and_no_data(mh_hub, mh_servers, token) -> None:
    r = get(f"{mh_hub.url}{SERVICE}/me", token)
    assert r.status_code == 401 and "courses" not in r.text
    r = get(mh_servers["learner1"] + "mentorhub/api/me", token)
    assert r.status_code in (302, 403) and "courses" not in r.text


def test_expired_token_stops_working_at_the_service(mh_hub) -> None:
    token = mh_hub.token(mh_hub.login("learner3"), expires_in=2)
    assert get(f"{mh_hub.url}{SERVICE}/me", token).status_code == 200
    time.sleep(3.5)
    r = get(f"{mh_hub.url}{SERVICE}/me", token)
    assert r.status_code == 401 and "courses" not in r.text


def test_learner_cannot_read_the_course_roster(mh_hub, mh_tokens) -> None:
    r = get(f"{mh_hub.url}{SERVICE}/courses/intro-python/roster", mh_tokens["learner1"])
    assert r.status_code == 403
    assert "learner2" not in r.text and "members" not in r.json()


def test_mentor_reads_the_course_roster(mh_hub, mh_tokens) -> None:
    r = get(f"{mh_hub.url}{SERVICE}/courses/intro-python/roster", mh_tokens["mentor"])
    assert r.status_code == 200
    assert {"learner2": "learner"}.items() <= {
        m["username"]: m["role"] for m in r.json()["members"]
    }.items()


def test_only_instructor_changes_roles_and_hub_groups_follow(mh_hub, mh_tokens) -> None:
    url = f"{mh_hub.url}{SERVICE}/courses/intro-python/members/learner3"
    assert send("PUT", url, mh_tokens["mentor"], {"role": "mentor"}).status_code == 403
    assert send("PUT", url, mh_tokens["learner3"], {"role": "instructor"}).status_code == 403
    assert send("PUT", url, mh_tokens["instructor"], {"role": "owner"}).status_code == 400
    r = send("PUT", url, mh_tokens["instructor"], {"role": "mentor"})
    assert r.status_code == 200, r.text
    try:
        me = get(f"{mh_hub.url}{SERVICE}/me", mh_tokens["learner3"]).json()
        assert me["courses"][0]["role"] == "mentor"
        groups = get(f"{mh_hub.url}/hub/api/user", mh_tokens["learner3"]).json()["groups"]
        assert "course-intro-python-mentors" in groups
        assert "course-intro-python-learners" not in groups
    finally:
        assert send("PUT", url, mh_tokens["instructor"], {"role": "learner"}).status_code == 200


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"role": 5}'])
def test_malformed_request_body_gets_400(mh_hub, mh_tokens, body) -> None:
    r = requests.put(
        f"{mh_hub.url}{SERVICE}/courses/intro-python/members/learner3",
        data=body,
        headers={"Authorization": f"token {mh_tokens['instructor']}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()["message"]


def test_unknown_course_is_404(mh_hub, mh_tokens) -> None:
    r = get(f"{mh_hub.url}{SERVICE}/courses/no-such-course/roster", mh_tokens["instructor"])
    assert r.status_code == 404


def test_learner_cannot_read_another_learners_files(mh_hub, mh_tokens, mh_servers) -> None:
    out = run(
        mh_servers["learner2"],
        mh_tokens["learner2"],
        "import pathlib, os; p = pathlib.Path.home() / 'secret.txt'; p.write_text('s3cret'); print(os.getuid(), p)",
    )
    assert "/home/learner2/secret.txt" in out
    out = run(
        mh_servers["learner1"],
        mh_tokens["learner1"],
        "import os\n"
        "for f in (lambda: open('/home/learner2/secret.txt').read(), lambda: os.listdir('/home/learner2')):\n"
        "    try:\n        print('READ', f())\n    except PermissionError as e:\n        print('DENIED', e.errno)\n",
    )
    assert out.count("DENIED 13") == 2 and "s3cret" not in out


def test_users_server_holds_no_secret(mh_hub, mh_tokens, mh_servers) -> None:
    out = run(
        mh_servers["learner1"],
        mh_tokens["learner1"],
        "import os, json; print(json.dumps(dict(os.environ)))\n"
        f"try:\n    os.listdir({str(mh_hub.data_dir)!r})\nexcept PermissionError:\n    print('DATA-DENIED')\n",
    )
    assert "DATA-DENIED" in out
    assert "MENTORHUB_SERVICE_DB_URL" not in out and "postgresql" not in out
    assert "cookie_secret" not in out


def test_server_token_cannot_act_beyond_its_user(mh_hub, mh_tokens, mh_servers) -> None:
    """A learner's code holds its server's token; it must not reach other users or admin APIs."""
    out = run(
        mh_servers["learner1"],
        mh_tokens["learner1"],
        "import os, urllib.request, urllib.error\n"
        "t = os.environ['JUPYTERHUB_API_TOKEN']; svc = os.environ['MENTORHUB_SERVICE_URL']\n"
        f"hub = {mh_hub.url!r}\n"
        "for url in (hub + '/hub/api/users', hub + '/hub/api/users/learner2', svc + '/services/mentorhub/api/courses/intro-python/roster'):\n"
        "    req = urllib.request.Request(url, headers={'Authorization': 'token ' + t})\n"
        "    try:\n        urllib.request.urlopen(req); print('OK', url)\n"
        "    except urllib.error.HTTPError as e:\n        print('HTTP', e.code)\n",
    )
    assert "OK" not in out
    assert out.count("HTTP 403") + out.count("HTTP 404") == 3, out


def run(base_url: str, token: str, code: str) -> str:
    return asyncio.run(execute(base_url, token, code))


def test_service_root_answers_the_hubs_health_check_with_no_data(mh_hub) -> None:
    r = get(f"{mh_hub.url}/services/mentorhub/")
    assert r.status_code == 200 and set(r.json()) == {"service", "version"}


def test_no_token_is_ever_logged(mh_hub, mh_tokens, mh_servers) -> None:
    """Every test above sent these tokens; the hub, proxy, service and servers log none."""
    log = mh_hub.log()
    assert "GET /hub/api/user" in log  # the log does record the requests
    assert [user for user, token in mh_tokens.items() if token in log] == []
