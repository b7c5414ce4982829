"""Run a real mentorhub (``mentorhub demo``) in a subprocess and talk to it over HTTP."""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from tornado.websocket import websocket_connect

BIN = Path(os.path.realpath(sys.prefix)) / "bin"  # the real place: other accounts run it too


def free_port_block(size: int = 4) -> int:
    """A base port such that base..base+size-1 are free now."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1]
        if base + size >= 65535:
            continue
        ok = True
        for p in range(base, base + size):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", p))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise RuntimeError("no free block of ports")


def hub_processes(hub_port: int, proxy_api_port: int, hub_pid: int | None) -> list[int]:
    """Live processes of one hub: itself, its proxy, and the servers and services it started
    (found by the hub API URL in their environment)."""
    api_env = f"JUPYTERHUB_API_URL=http://127.0.0.1:{hub_port}/hub/api".encode()
    mine = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            environ = (d / "environ").read_bytes().split(b"\0")
            cmdline = (d / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        proxy = (
            b"configurable-http-proxy" in b" ".join(cmdline)
            and str(proxy_api_port).encode() in cmdline
        )
        if api_env in environ or proxy or int(d.name) == hub_pid:
            mine.append(int(d.name))
    return mine


def reset_demo_homes() -> None:
    """Empty the homes of the demo accounts' unix users, so each test module starts fresh.

    The accounts outlive a test run (they are unix users); only accounts that mentorhub
    itself created (login shell nologin) are touched.
    """
    from mentorhub_hub.demo import DEMO_ROLES

    for name in DEMO_ROLES:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_shell != "/usr/sbin/nologin" or not entry.pw_dir.startswith("/home/"):
            continue
        for child in Path(entry.pw_dir).iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()


class PortTaken(RuntimeError):
    """The hub refused to start: one of its ports was in use."""


class Hub:
    """``mentorhub demo`` in a subprocess, with the accounts it printed."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str] | None = None,
        port: int | None = None,
        as_user: str | None = None,
    ) -> None:
        self.as_user = as_user  # run the hub as this unix account instead of root
        self.data_dir = Path(data_dir)
        self._port_given = port is not None
        self.port = port or free_port_block()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-hub.log"
        self.proc: subprocess.Popen | None = None
        self.passwords: dict[str, str] = {}

    def start(self, timeout: float = 60, tries: int = 3) -> Hub:
        """Start, and wait for the banner and the service. A port taken between choosing it
        and binding it (another process on this machine) means another try on new ports,
        unless the port was given."""
        if os.geteuid() == 0 and not self.as_user and not self.data_dir.exists():
            reset_demo_homes()  # a new platform: its users start with empty homes
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        for attempt in range(tries):
            try:
                return self._start_once(timeout)
            except PortTaken:
                if self._port_given or attempt == tries - 1:
                    raise
                self.port = free_port_block()
                self.url = f"http://127.0.0.1:{self.port}"
        raise AssertionError("unreachable")

    def _start_once(self, timeout: float) -> Hub:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed by stop)
        # setpriv execs the hub itself (no process in between), so Ctrl-C reaches it
        who = ["--reuid", self.as_user, "--regid", self.as_user, "--init-groups", "--"]
        prefix = ["setpriv", *who] if self.as_user else []
        demo = ["demo", "--port", str(self.port), "--data-dir", str(self.data_dir)]
        self.proc = subprocess.Popen(
            [*prefix, str(BIN / "mentorhub"), *demo],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, errors="replace") as f:
                f.seek(offset)
                text = f.read()  # this run's output only
            if "Press Ctrl-C to stop." in text:
                banner = text[text.rindex("demo accounts") :]
                self.passwords = dict(re.findall(r"^  (\S+)\s+(\S+)\s+\w+$", banner, re.M))
                self.wait_for_service()
                return self
            if self.proc.poll() is not None:
                self._log.close()
                if "is already in use" in text:
                    raise PortTaken(text.strip())
                raise RuntimeError(f"hub exited {self.proc.returncode}:\n{text[-3000:]}")
            time.sleep(0.2)
        raise TimeoutError(f"hub did not start:\n{self.log_path.read_text()[-3000:]}")

    def wait_for_service(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if (
                    requests.get(f"{self.url}/services/mentorhub/api/me", timeout=2).status_code
                    == 401
                ):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError("the mentorhub service did not come up")

    @contextmanager
    def running(self) -> Iterator[Hub]:
        """Started for the ``with`` block, stopped after it, whatever happens."""
        try:
            yield self.start()
        finally:
            if self.proc is not None and self.proc.returncode is None:
                self.stop()

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
                raise
        self._log.close()
        return self.proc.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- talking to it -------------------------------------------------------------
    def login(self, user: str, password: str | None = None) -> requests.Session:
        s = requests.Session()
        s.get(f"{self.url}/hub/login", timeout=10)
        r = s.post(
            f"{self.url}/hub/login",
            data={
                "username": user,
                "password": password or self.passwords[user],
                "_xsrf": s.cookies.get("_xsrf"),
            },
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code == 302, (r.status_code, r.text[:500])
        return s

    def token(self, session: requests.Session, **body) -> str:
        """A new API token for the logged-in user (as a user would make on /hub/token)."""
        name = self.whoami(session)
        r = session.post(
            f"{self.url}/hub/api/users/{name}/tokens",
            json={"note": "test", **body},
            headers={"X-XSRFToken": session.cookies.get("_xsrf")},
            timeout=10,
        )
        assert r.status_code == 201, r.text
        return r.json()["token"]

    def whoami(self, session: requests.Session) -> str:
        return session.get(
            f"{self.url}/hub/api/user",
            headers={"X-XSRFToken": session.cookies.get("_xsrf")},
            timeout=10,
        ).json()["name"]

    def publish(self, token: str, source: Path | str, *extra: str) -> subprocess.CompletedProcess:
        """``mentorhub course publish`` against this hub, as the owner of ``token``."""
        return subprocess.run(
            [
                str(BIN / "mentorhub"),
                "course",
                "publish",
                str(source),
                "--hub-url",
                self.url,
                "--token",
                token,
                *extra,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    def spawn(self, token: str, user: str, timeout: float = 60) -> None:
        h = {"Authorization": f"token {token}"}
        r = requests.post(f"{self.url}/hub/api/users/{user}/server", headers=h, timeout=timeout)
        assert r.status_code in (201, 202, 400), r.text  # 400: already running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            model = requests.get(f"{self.url}/hub/api/users/{user}", headers=h, timeout=10).json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(0.1)
        raise TimeoutError(f"{user}'s server did not start:\n{self.log()[-3000:]}")


async def execute(base_url: str, token: str, code: str, timeout: float = 60) -> str:
    """Run ``code`` in a new kernel of the server at ``base_url``; return what it printed."""
    h = {"Authorization": f"token {token}"}
    kernel = requests.post(
        f"{base_url}api/kernels", headers=h, json={"name": "python3"}, timeout=30
    ).json()
    ws_url = base_url.replace("http", "ws", 1) + f"api/kernels/{kernel['id']}/channels"
    from tornado.httpclient import HTTPRequest

    conn = await websocket_connect(HTTPRequest(ws_url, headers=h, connect_timeout=30))
    msg_id = uuid.uuid4().hex
    conn.write_message(
        json.dumps(
            {
                "header": {
                    "msg_id": msg_id,
                    "msg_type": "execute_request",
                    "username": "",
                    "session": uuid.uuid4().hex,
                    "version": "5.3",
                },
                "parent_header": {},
                "metadata": {},
                "channel": "shell",
                "content": {
                    "code": code,
                    "silent": False,
                    "store_history": False,
                    "user_expressions": {},
                    "allow_stdin": False,
                },
            }
        )
    )
    out: list[str] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            raw = await conn.read_message()
            if raw is None:
                break
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "stream":
                out.append(msg["content"]["text"])
            elif kind == "error":
                out.append("\n".join(msg["content"]["traceback"]))
            elif kind == "status" and msg["content"]["execution_state"] == "idle":
                break
    finally:
        conn.close()
        requests.delete(f"{base_url}api/kernels/{kernel['id']}", headers=h, timeout=30)
    return "".join(out)
