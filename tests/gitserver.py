"""A loopback git smart-HTTP server (``git http-backend``) for tests that fetch over HTTP."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _GitHTTP(BaseHTTPRequestHandler):
    """git's smart HTTP (``git http-backend``), optionally behind Basic auth; ``/moved/`` redirects."""

    def do_GET(self) -> None:
        server = self.server
        server.seen.append((self.path, self.headers.get("Authorization")))  # type: ignore[attr-defined]
        if self.path.startswith("/moved/"):
            return self._reply(301, [("Location", self.path.removeprefix("/moved"))])
        if server.auth and self.headers.get("Authorization") != server.auth:  # type: ignore[attr-defined]
            return self._reply(401, [("WWW-Authenticate", 'Basic realm="course"')])
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ["PATH"],
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(server.root),  # type: ignore[attr-defined]
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_ADDR": "127.0.0.1",
        }
        cgi = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True)
        head, _, payload = cgi.stdout.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            else:
                headers.append((key, value.strip()))
        self._reply(status, headers, payload)

    do_POST = do_GET

    def _reply(self, status: int, headers: list[tuple[str, str]], payload: bytes = b"") -> None:
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: object) -> None:
        pass


def serve_git(repo: Path, root: Path, auth: tuple[str, str] | None = None) -> ThreadingHTTPServer:
    """Serve a bare clone of ``repo`` as ``<server.url>/course.git``; call ``shutdown()`` after."""
    root.mkdir(parents=True)
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(repo), str(root / "course.git")], check=True
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), _GitHTTP)
    server.root, server.seen = root, []  # type: ignore[attr-defined]
    server.auth = auth and "Basic " + base64.b64encode(":".join(auth).encode()).decode()  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
