"""What every API handler shares: hub identity, JSON in and out, domain errors -> statuses."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from jupyterhub.services.auth import HubOAuth, HubOAuthenticated, UserNotAllowed
from sqlalchemy.exc import IntegrityError, OperationalError
from tornado import web

from .courses import CourseManager, CourseNotFound, InvalidRequest
from .enrolment import AlreadyEnrolled, CourseFull, EnrolmentManager, WrongInviteCode
from .hub_groups import HubGroups
from .permissions import Caller, Forbidden
from .publisher import Publisher
from .publishing.fetch import FetchError
from .publishing.manifest import CourseInvalid

# domain errors -> HTTP status; messages are written for the person who made the request
ERRORS: dict[type[Exception], int] = {
    InvalidRequest: 400,
    CourseInvalid: 422,
    FetchError: 422,
    WrongInviteCode: 403,
    Forbidden: 403,
    CourseNotFound: 404,
    FileNotFoundError: 404,
    AlreadyEnrolled: 409,
    CourseFull: 409,
    IntegrityError: 409,
    OperationalError: 503,
}


def _message(e: Exception) -> str:
    if isinstance(e, IntegrityError):
        return "changed concurrently; try again"
    if isinstance(e, OperationalError):
        return "the service is busy; try again"
    if isinstance(e, FileNotFoundError):
        return "no such file in this course version"
    return str(e)


def api(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
    """Require a hub identity (401 otherwise) and map domain errors to statuses."""

    @functools.wraps(method)
    async def wrapper(self: APIHandler, *args: str) -> None:
        if self.current_user is None:
            raise web.HTTPError(401, "authentication required: a valid JupyterHub token or login")
        try:
            await method(self, *args)
        except tuple(ERRORS) as e:
            status = next(code for kind, code in ERRORS.items() if isinstance(e, kind))
            problems = getattr(e, "problems", None)
            if problems is not None:
                self.write_json(
                    {
                        "status": status,
                        "message": _message(e),
                        "problems": [
                            p
                            if isinstance(p, str)
                            else {"file": p.file, "cell": p.cell, "message": p.message}
                            for p in problems
                        ],
                    },
                    status,
                )
                return
            raise web.HTTPError(status, _message(e)) from None

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
    def enrolment(self) -> EnrolmentManager:
        return self.settings["mentorhub.enrolment"]

    @property
    def publisher(self) -> Publisher:
        return self.settings["mentorhub.publisher"]

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
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
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
