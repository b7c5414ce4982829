"""HTTP translation of the managers. Every route but the OAuth callback needs a hub identity."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from jupyterhub.services.auth import (
    HubOAuth,
    HubOAuthCallbackHandler,
    HubOAuthenticated,
    UserNotAllowed,
)
from sqlalchemy.exc import IntegrityError
from tornado import web

from .courses import CourseManager, CourseNotFound, InvalidRequest, hub_group
from .hub_groups import HubGroups
from .orm import Role
from .permissions import Caller, Forbidden

# domain errors -> HTTP status; messages are written for the person who made the request
ERRORS: dict[type[Exception], int] = {
    InvalidRequest: 400,
    Forbidden: 403,
    CourseNotFound: 404,
    IntegrityError: 409,
}


def api(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    """Require a hub identity (401 otherwise) and map domain errors to statuses."""

    @functools.wraps(method)
    async def wrapper(self: APIHandler, *args: str) -> None:
        if self.current_user is None:
            raise web.HTTPError(401, "authentication required: a valid JupyterHub token or login")
        try:
            await method(self, *args)
        except tuple(ERRORS) as e:
            message = "changed concurrently; try again" if isinstance(e, IntegrityError) else str(e)
            raise web.HTTPError(ERRORS[type(e)], message) from None

    return wrapper


class APIHandler(HubOAuthenticated, web.RequestHandler):
    hub_auth_class = HubOAuth

    async def prepare(self) -> None:
        """Identify the caller without blocking the event loop (HubOAuth's sync path would)."""
        user = await self.hub_auth.get_user(self, sync=False)
        try:
            self._hub_auth_user_cache = self.check_hub_user(user) if user else None
        except UserNotAllowed:
            raise web.HTTPError(403, f"{user['name']} may not use the mentorhub service") from None
    @property
    def courses(self) -> CourseManager:
        return self.settings["mentorhub.courses"]

    @property
    def hub_groups(self) -> HubGroups:
        return self.settings["mentorhub.hub_groups"]

    @property
    def caller(self) -> Caller:
        user = self.current_user
        return Caller(user["name"], frozenset(user.get("scopes", [])), bool(user.get("admin")))

    def get_login_url(self) -> str:
        # API routes answer 401, they never redirect to a login page
        raise web.HTTPError(401, "authentication required")

    def check_xsrf_cookie(self) -> None:
        # cookie-authenticated writes need XSRF, as JupyterHub's own API; tokens do not
        if self.request.headers.get("Authorization"):
            return
        super().check_xsrf_cookie()

    def body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError as e:
            raise web.HTTPError(400, f"request body is not JSON: {e}") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return data

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = getattr(exc, "log_message", None) if isinstance(exc, web.HTTPError) else None
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message or self._reason}))


class MeHandler(APIHandler):
    """Who the caller is and their role in each course."""

    @api
    async def get(self) -> None:
        user = self.current_user
        roles = self.courses.roles_of(user["name"])
        if "groups" in user:  # repair the hub-group mirror for this user if it drifted
            expected = {hub_group(r["course"], Role(r["role"])) for r in roles}
            await self.hub_groups.reconcile_user(user["name"], set(user["groups"]), expected)
        self.write_json({"name": user["name"], "admin": bool(user.get("admin")), "courses": roles})


class CoursesHandler(APIHandler):
    @api
    async def get(self) -> None:
        self.write_json({"courses": self.courses.catalog()})

    @api
    async def post(self) -> None:
        data = self.body()
        for key in ("slug", "title"):
            if not isinstance(data.get(key), str) or not data[key].strip():
                raise web.HTTPError(400, f"{key!r} is required")
        course = self.courses.create(self.caller, data["slug"], data["title"], str(data.get("description", "")))
        await self.hub_groups.ensure_group(hub_group(course["slug"], Role.instructor))
        await self.hub_groups.set_members(hub_group(course["slug"], Role.instructor), [self.caller.name], [])
        self.write_json(course, status=201)


class MembersHandler(APIHandler):
    @api
    async def get(self, slug: str) -> None:
        self.write_json({"course": slug, "members": self.courses.members(self.caller, slug)})


class MemberHandler(APIHandler):
    @api
    async def put(self, slug: str, username: str) -> None:
        role = self.body().get("role")
        if role not in Role.__members__:
            raise web.HTTPError(400, f"role must be one of {', '.join(Role.__members__)}")
        change = self.courses.set_role(self.caller, slug, username, Role(role))
        await self.hub_groups.apply(change)
        self.write_json({"course": slug, "username": username, "role": role})

    @api
    async def delete(self, slug: str, username: str) -> None:
        change = self.courses.set_role(self.caller, slug, username, None)
        await self.hub_groups.apply(change)
        self.set_status(204)
        self.finish()


def default_handlers(prefix: str) -> list[tuple[str, type[web.RequestHandler]]]:
    slug, user = r"([a-z0-9][a-z0-9-]*)", r"([^/]+)"
    return [
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
        (prefix + "api/me", MeHandler),
        (prefix + "api/courses", CoursesHandler),
        (prefix + f"api/courses/{slug}/members", MembersHandler),
        (prefix + f"api/courses/{slug}/members/{user}", MemberHandler),
    ]
