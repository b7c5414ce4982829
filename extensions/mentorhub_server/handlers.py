"""The extension's REST API, under ``<base_url>mentorhub/api/``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin, ExtensionHandlerMixin
from tornado import web

from .client import ServiceClient, ServiceError
from .courses import CourseWork
from .publish import BUNDLE_TYPE, NotARepository, bundle_bytes
from .sync import SyncError

AUTH_RESOURCE = "mentorhub"


class ServiceProxyHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def client(self) -> ServiceClient:
        return self.settings["mentorhub.client"]

    @property
    def work(self) -> CourseWork:
        return self.settings["mentorhub.courses"]

    async def answer(self, action: Awaitable[Any], status: int = 200) -> None:
        """Finish with the action's JSON, or with the service's refusal as it was given."""
        try:
            data = await action
        except ServiceError as e:
            status, data = e.status, {"status": e.status, "message": e.message}
        except SyncError as e:
            status, data = 409, {"status": 409, "message": str(e)}
        self.set_status(status)
        if data is None:
            self.finish()
        else:
            self.finish(json.dumps(data))

    async def relay(
        self, method: str, path: str, body: Any = None, query: dict | None = None, **kw: Any
    ) -> None:
        await self.answer(self.client.request(method, path, body, query, **kw))

    def json_body(self) -> dict:
        try:
            data = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "request body is not JSON") from None
        if not isinstance(data, dict):
            raise web.HTTPError(400, "request body must be a JSON object")
        return data


class MeHandler(ServiceProxyHandler):
    """The server owner's identity and course roles, as the service knows them."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay("GET", "api/me")


class CatalogHandler(ServiceProxyHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        query = {
            k: self.get_arguments(k)
            for k in ("q", "tag", "limit", "offset")
            if self.get_arguments(k)
        }
        await self.relay("GET", "api/courses", query=query)


class CourseHandler(ServiceProxyHandler):
    @web.authenticated
    @authorized
    async def get(self, slug: str) -> None:
        await self.relay("GET", f"api/courses/{slug}")


class EnrolHandler(ServiceProxyHandler):
    """Enrol, then bring the course home at once if enrolment was immediate."""

    @web.authenticated
    @authorized
    async def post(self, slug: str) -> None:
        async def enrol_and_sync() -> dict:
            result = await self.client.request(
                "POST", f"api/courses/{slug}/enrolment", self.json_body()
            )
            if result["status"] == "enrolled":
                result["sync"] = await self.work.sync(slug)
            return result

        await self.answer(enrol_and_sync())

    @web.authenticated
    @authorized
    async def delete(self, slug: str) -> None:
        # the learner's files stay where they are: leaving never deletes their work
        await self.relay("DELETE", f"api/courses/{slug}/enrolment")


class SyncHandler(ServiceProxyHandler):
    @web.authenticated
    @authorized
    async def get(self, slug: str) -> None:
        await self.answer(self.work.status(slug))

    @web.authenticated
    @authorized
    async def post(self, slug: str) -> None:
        await self.answer(self.work.sync(slug))


class PublishHandler(ServiceProxyHandler):
    """Publish from the instructor's server: a repository in their home, or a git URL."""

    @web.authenticated
    @authorized
    async def post(self) -> None:
        data = self.json_body()
        source, ref = data.get("source"), data.get("ref") or None
        if not isinstance(source, str) or not source.strip() or not isinstance(ref, str | None):
            raise web.HTTPError(400, "source (a git URL or a repository in your home) is required")
        if "://" in source:
            await self.relay(
                "POST", "api/courses/publish", {"source": source, "ref": ref}, timeout=600
            )
            return
        path = (Path.home() / source).resolve()
        if not path.is_dir():
            raise web.HTTPError(400, f"{source} is not a directory in your home")
        loop = asyncio.get_running_loop()
        try:
            data = await loop.run_in_executor(None, bundle_bytes, path)
        except NotARepository as e:
            raise web.HTTPError(400, str(e)) from None
        query = {"source": path.name, **({"ref": ref} if ref else {})}
        await self.answer(
            self.client.request(
                "POST",
                "api/courses/publish",
                query=query,
                raw=data,
                content_type=BUNDLE_TYPE,
                timeout=600,
            )
        )


class CourseAdminHandler(ServiceProxyHandler):
    """Instructor and mentor views of one course, relayed: roster, approvals, invite codes."""

    @web.authenticated
    @authorized
    async def get(self, slug: str, what: str) -> None:
        if what != "roster":
            raise web.HTTPError(404)
        await self.relay("GET", f"api/courses/{slug}/roster")

    @web.authenticated
    @authorized
    async def post(self, slug: str, what: str) -> None:
        if what != "invite-code" and not what.startswith("requests/"):
            raise web.HTTPError(404)
        await self.relay("POST", f"api/courses/{slug}/{what}")


class PageHandler(ExtensionHandlerJinjaMixin, ExtensionHandlerMixin, JupyterHandler):
    """The pages: ``catalog`` (learners; also shown inside JupyterLab by mentorhub-lab) and
    ``teach`` (publish, rosters, approvals). Both only call this server's API."""

    auth_resource = AUTH_RESOURCE

    @property
    def content_security_policy(self) -> str:
        # JupyterHub forbids framing user-server pages ('none'); mentorhub-lab shows the catalog
        # in a JupyterLab tab, so this page may be framed by its own origin, and nothing else.
        return "frame-ancestors 'self'"

    @web.authenticated
    @authorized
    def get(self, page: str) -> None:
        self.write(
            self.render_template(
                f"{page}.html", base_url=self.base_url, xsrf_token=self.xsrf_token.decode()
            )
        )


COURSE = r"/mentorhub/api/courses/([a-z0-9][a-z0-9-]*)"
default_handlers = [
    (r"/mentorhub/(catalog|teach)", PageHandler),
    (r"/mentorhub/api/me", MeHandler),
    (r"/mentorhub/api/courses", CatalogHandler),
    (COURSE, CourseHandler),
    (COURSE + "/enrolment", EnrolHandler),
    (COURSE + "/sync", SyncHandler),
    (COURSE + r"/(roster|invite-code|requests/[^/]+)", CourseAdminHandler),
    (r"/mentorhub/api/publish", PublishHandler),
]
