"""Calls to the mentorhub service, made with the server owner's own JupyterHub token.

The token is the one JupyterHub gave this server ($JUPYTERHUB_API_TOKEN): it acts as
the server's user, with the scopes of ``Spawner.server_token_scopes``. The service
decides what that user may do; nothing here is trusted by anyone else.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest
from traitlets import Float, Unicode, default
from traitlets.config import LoggingConfigurable


class ServiceError(Exception):
    """The service refused or could not be reached; carries a status and a message to show."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ServiceClient(LoggingConfigurable):
    service_url = Unicode(
        help="Base URL of the mentorhub service (env MENTORHUB_SERVICE_URL)."
    ).tag(config=True)

    @default("service_url")
    def _service_url_default(self) -> str:
        return os.environ.get("MENTORHUB_SERVICE_URL", "http://127.0.0.1:8003")

    service_prefix = Unicode("/services/mentorhub/", help="The service's URL prefix.").tag(
        config=True
    )
    request_timeout = Float(10.0, help="Seconds to wait for the service.").tag(config=True)

    def url(self, path: str, query: dict[str, Any] | None = None) -> str:
        url = self.service_url.rstrip("/") + self.service_prefix + path.lstrip("/")
        return url + ("?" + urlencode(query, doseq=True) if query else "")

    @staticmethod
    def _headers() -> dict[str, str]:
        return {"Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}"}

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict | None = None,
        *,
        raw: bytes | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> Any:
        """Call the service; ``raw`` sends bytes as they are (e.g. a git bundle) instead of JSON."""
        if raw is None and (body is not None or method in ("POST", "PUT")):
            raw = json.dumps({} if body is None else body).encode()
        req = HTTPRequest(
            self.url(path, query),
            method=method,
            headers={**self._headers(), "Accept": "application/json", "Content-Type": content_type},
            body=raw,
            request_timeout=timeout or self.request_timeout,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
        except HTTPClientError as e:
            if e.code == 599 or e.response is None:
                raise ServiceError(
                    503, "the mentorhub service is unreachable; try again shortly"
                ) from None
            raise ServiceError(e.code, _message(e.response.body) or e.message) from None
        except OSError:
            raise ServiceError(
                503, "the mentorhub service is unreachable; try again shortly"
            ) from None
        return json.loads(resp.body) if resp.body else None

    def read_file(self, path: str) -> bytes:
        """Blocking download for worker threads (course sync runs in an executor)."""
        req = urllib.request.Request(self.url(path), headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.request_timeout * 6) as resp:
                return resp.read()
        except urllib.error.HTTPError as e:
            raise ServiceError(e.code, _message(e.read()) or str(e.reason)) from None
        except OSError:
            raise ServiceError(
                503, "the mentorhub service is unreachable; try again shortly"
            ) from None


def _message(body: bytes | None) -> str:
    try:
        return str(json.loads(body or b"{}").get("message", ""))
    except (ValueError, AttributeError):
        return ""
