"""``mentorhub demo``: starts on embedded defaults, stops cleanly, restarts without loss,
and refuses to start with one clear message when it cannot work."""

from __future__ import annotations

import json
import os
import socket
import subprocess

import psutil
import pytest
import requests
from conftest import make_course_repo
from hubtools import BIN, Hub, free_port_block


def descendants_of_hub(hub: Hub) -> set[int]:
    return {p.pid for p in psutil.Process(hub.proc.pid).children(recursive=True)}


def test_demo_stops_on_ctrl_c_with_no_process_left_and_restarts_losing_nothing(tmp_path) -> None:
    data = tmp_path / "data"
    hub = Hub(data).start()
    token = hub.token(hub.login("learner1"))
    hub.spawn(token, "learner1")
    instructor = hub.token(hub.login("instructor"))
    repo = make_course_repo(tmp_path / "repos", "kept")
    published = hub.publish(instructor, repo)
    assert published.returncode == 0, published.stderr
    assert "kept: published as version 1" in published.stdout
    children = descendants_of_hub(hub)
    assert len(children) >= 3  # proxy, service, learner1's server (and its kernel-less children)
    passwords = dict(hub.passwords)

    assert hub.stop() == 0
    group_writes = hub.log().count("POST /hub/api/groups/")
    left = [
        pid
        for pid in children
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie"
    ]
    assert left == []
    for port in range(hub.port, hub.port + 4):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))  # every port is free again

    again = Hub(data, port=hub.port).start()
    try:
        assert again.passwords == passwords
        # the hub's groups already mirror every course role: start-up reads them, writes nothing
        assert again.log().count("POST /hub/api/groups/") == group_writes
        assert again.whoami(again.login("learner1")) == "learner1"
        r = requests.get(
            f"{again.url}/services/mentorhub/api/courses",
            headers={"Authorization": f"token {instructor}"},
            timeout=10,
        )
        assert r.status_code == 200  # the token made before the restart still works
        assert {c["slug"] for c in r.json()["courses"]} == {"intro-python", "kept"}
    finally:
        again.stop()


def test_demo_password_files_are_private_and_hashed(tmp_path) -> None:
    from mentorhub_hub.demo import ensure_demo_accounts

    passwords = ensure_demo_accounts(tmp_path)
    hashes = json.loads((tmp_path / "accounts" / "passwords.json").read_text())
    assert set(hashes) == set(passwords)
    assert all(h.startswith("scrypt:") and passwords[u] not in h for u, h in hashes.items())
    assert len(set(passwords.values())) == len(passwords)  # no shared password
    for name in ("passwords.json", "demo-accounts.json"):
        assert (tmp_path / "accounts" / name).stat().st_mode & 0o077 == 0


def demo(tmp_path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "mentorhub"), "demo", "--data-dir", str(tmp_path / "data"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_port_in_use_fails_fast_with_one_message(tmp_path) -> None:
    base = free_port_block()
    with socket.socket() as s:
        s.bind(("127.0.0.1", base + 2))
        s.listen()
        r = demo(tmp_path, "--port", str(base))
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        f"mentorhub: cannot start: port {base + 2} on 127.0.0.1 (hub) is already in use; "
        f"stop what uses it or choose another base port with --port (mentorhub uses {base}-{base + 3})"
    ]


def test_unreachable_database_fails_fast_with_one_message(tmp_path) -> None:
    r = demo(
        tmp_path,
        "--port",
        str(free_port_block()),
        env={"MENTORHUB_HUB_DB_URL": "postgresql+psycopg://mh:topsecret@127.0.0.1:1/nowhere"},
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "hub database" in lines[0] and "unreachable" in lines[0]
    assert "topsecret" not in r.stderr


@pytest.mark.parametrize(
    "env, expected",
    [
        ({"MENTORHUB_SERVICE_DB_URL": "mysql://x/y"}, "MENTORHUB_SERVICE_DB_URL"),
        ({"MENTORHUB_SUBDOMAIN_HOST": "x", "MENTORHUB_ALLOW_ALL": "maybe"}, "MENTORHUB_ALLOW_ALL"),
    ],
)
def test_broken_setting_fails_fast_with_one_message(tmp_path, env, expected) -> None:
    r = demo(tmp_path, "--port", str(free_port_block()), env=env)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert (
        len(lines) == 1 and lines[0].startswith("mentorhub: cannot start:") and expected in lines[0]
    )
