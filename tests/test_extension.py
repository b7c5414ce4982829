"""The jupyter-server extension in a real jupyter-server, without a hub.

The hub-side chain is tested in test_hub.py; here: the extension loads in a plain
server and turns a service it cannot reach into a clear 503, never a hang or a 500.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from hubtools import BIN, free_port_block


@dataclass
class PlainServer:
    url: str
    token: str
    log_path: Path


@pytest.fixture(scope="module")
def mh_plain_server(tmp_path_factory) -> Iterator[PlainServer]:
    """A jupyter-server with the mentorhub extension; the service URL points at a closed port."""
    port = free_port_block(2)
    dead = port + 1
    token = secrets.token_hex(16)
    root = tmp_path_factory.mktemp("plain")
    env = {
        **os.environ,
        "MENTORHUB_SERVICE_URL": f"http://127.0.0.1:{dead}",
        "JUPYTERHUB_API_TOKEN": "not-a-real-token",
        "JUPYTER_CONFIG_DIR": str(root / "config"),
        "JUPYTER_RUNTIME_DIR": str(root / "runtime"),
    }
    with open(root / "server.log", "wb") as log:
        yield from _serve(port, token, root, env, log)


def _serve(port, token, root, env, log) -> Iterator[PlainServer]:
    proc = subprocess.Popen(
        [
            str(BIN / "jupyter-server"),
            f"--port={port}",
            "--ip=127.0.0.1",
            "--no-browser",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--allow-root",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/api/status", params={"token": token}, timeout=2).ok:
                    break
            except requests.ConnectionError:
                time.sleep(0.2)
        else:
            raise TimeoutError((root / "server.log").read_text())
        yield PlainServer(url, token, root / "server.log")
    finally:
        proc.terminate()
        proc.wait(30)


def test_extension_is_enabled_by_the_installed_config(mh_plain_server) -> None:
    """No command-line flag turned it on: the wheel's jupyter_server_config.d entry did."""
    log = mh_plain_server.log_path.read_text()
    assert "mentorhub_server | extension was successfully loaded" in log


def test_unreachable_service_is_a_clear_503(mh_plain_server) -> None:
    s = mh_plain_server
    r = requests.get(
        f"{s.url}/mentorhub/api/me", headers={"Authorization": f"token {s.token}"}, timeout=30
    )
    assert r.status_code == 503
    assert r.json() == {
        "status": 503,
        "message": "the mentorhub service is unreachable; try again shortly",
    }


def test_extension_requires_the_servers_own_authentication(mh_plain_server) -> None:
    r = requests.get(
        f"{mh_plain_server.url}/mentorhub/api/me",
        headers={"Authorization": "token wrong"},
        timeout=30,
    )
    assert r.status_code == 403
    assert "mentorhub service" not in r.text
