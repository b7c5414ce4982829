"""The extension's REST API, under ``<base_url>mentorhub/api/``."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.extension.handler import ExtensionHandlerJinjaMixin, ExtensionHandlerMixin
from tornado import web

from .client import ServiceClient, ServiceError
from .courses import CourseWork
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

    async def relay(self, method: str, path: str, body: Any = None, query: dict | None = None) -> None:
        await self.answer(self.client.request(method, path, body, query))

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
        query = {k: self.get_arguments(k) for k in ("q", "tag", "limit", "offset") if self.get_arguments(k)}
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
            result = await self.client.request("POST", f"api/courses/{slug}/enrolment", self.json_body())
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


class CatalogPageHandler(ExtensionHandlerJinjaMixin, ExtensionHandlerMixin, JupyterHandler):
    """The course catalog page (also shown inside JupyterLab by the mentorhub-lab extension)."""

    auth_resource = AUTH_RESOURCE

    @web.authenticated
    @authorized
    def get(self) -> None:
        self.write(self.render_template("catalog.html", base_url=self.base_url, xsrf_token=self.xsrf_token.decode()))


COURSE = r"/mentorhub/api/courses/([a-z0-9][a-z0-9-]*)"
default_handlers = [
    (r"/mentorhub/catalog", CatalogPageHandler),
    (r"/mentorhub/api/me", MeHandler),
    (r"/mentorhub/api/courses", CatalogHandler),
    (COURSE, CourseHandler),
    (COURSE + "/enrolment", EnrolHandler),
    (COURSE + "/sync", SyncHandler),
]
