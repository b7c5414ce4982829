"""Mirror course roles into JupyterHub groups (``course-<slug>-<role>s``).

The service's database is the source of truth; the groups let the hub's own RBAC
speak about course roles (e.g. a mentor's access to learners' servers). Mirroring is
best effort: a failure is logged and repaired by the next full sync (at start-up) or
when the user next calls the service.
"""

from __future__ import annotations

import asyncio
import json
import logging
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from .courses import RoleChange, hub_group

log = logging.getLogger("mentorhub.hub_groups")


class HubGroups:
    def __init__(self, api_url: str, api_token: str) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = api_token  # the service's own token: never logged, never sent to users

    async def _call(self, method: str, path: str, body: dict | None = None) -> int:
        return (await self._fetch(method, path, body))[0]

    async def _fetch(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        req = HTTPRequest(
            f"{self.api_url}{path}",
            method=method,
            headers={
                "Authorization": f"token {self._token}",
                "Content-Type": "application/json",
                "Accept": "application/jupyterhub-pagination+json",
            },
            body=json.dumps(body)
            if body is not None
            else (None if method in ("GET", "DELETE") else ""),
            allow_nonstandard_methods=True,
            request_timeout=10,
        )
        try:
            resp = await AsyncHTTPClient().fetch(req)
            return resp.code, resp.body
        except HTTPClientError as e:
            return e.code, b""

    async def ensure_group(self, name: str) -> None:
        code = await self._call("POST", f"/groups/{quote(name, safe='')}")
        if code not in (201, 409):
            log.warning("could not create hub group %s (HTTP %s)", name, code)

    async def set_members(self, name: str, add: list[str], remove: list[str]) -> bool:
        path = f"/groups/{quote(name, safe='')}/users"
        ok = True
        if add:
            await self.ensure_group(name)
            if await self._call("POST", path, {"users": add}) != 200:
                for user in add:  # one by one: one unknown user must not block the others
                    code = await self._call("POST", path, {"users": [user]})
                    if code != 200:
                        ok = False
                        log.info("hub group %s: cannot add %s yet (HTTP %s)", name, user, code)
        if remove:
            code = await self._call("DELETE", path, {"users": remove})
            ok = ok and code in (200, 404)
        return ok

    async def apply(self, change: RoleChange) -> None:
        if change.old == change.new:
            return
        if change.old is not None:
            await self.set_members(hub_group(change.course, change.old), [], [change.username])
        if change.new is not None:
            await self.set_members(hub_group(change.course, change.new), [change.username], [])

    async def wait_for_hub(self, timeout: float = 30) -> bool:
        """Wait until the hub API answers (the hub may start us before it listens)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if await self._call("GET", "/") == 200:
                return True
            await asyncio.sleep(0.2)
        return False

    async def current(self) -> dict[str, set[str]] | None:
        """Every ``course-*`` hub group and its members, a page at a time; None if unreadable."""
        groups: dict[str, set[str]] = {}
        offset = 0
        while True:
            code, body = await self._fetch("GET", f"/groups?offset={offset}&limit=200")
            if code != 200:
                return None
            page = json.loads(body)
            for group in page["items"]:
                if group["name"].startswith("course-"):
                    groups[group["name"]] = set(group["users"])
            if not page["_pagination"].get("next"):
                return groups
            offset = page["_pagination"]["next"]["offset"]

    async def sync_all(self, memberships: dict[str, list[str]]) -> None:
        """Add the members the hub's groups lack (start-up): one read, then only the difference."""
        if not await self.wait_for_hub():
            log.warning("hub API unreachable; groups will be repaired as users call the service")
            return
        current = await self.current() or {}
        for name, users in memberships.items():
            missing = sorted(set(users) - current.get(name, set()))
            if missing:
                await self.set_members(name, missing, [])

    async def reconcile_user(self, username: str, has: set[str], expected: set[str]) -> None:
        """Bring one user's ``course-*`` groups in line with their course roles."""
        has = {g for g in has if g.startswith("course-")}
        for name in expected - has:
            await self.set_members(name, [username], [])
        for name in has - expected:
            await self.set_members(name, [], [username])
