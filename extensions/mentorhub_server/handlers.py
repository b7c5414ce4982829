"""The extension's REST API, under ``<base_url>mentorhub/api/``."""

from __future__ import annotations

import json

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from jupyter_server.extension.handler import ExtensionHandlerMixin
from tornado import web

from .client import ServiceClient, ServiceError

AUTH_RESOURCE = "mentorhub"


class ServiceProxyHandler(ExtensionHandlerMixin, APIHandler):
    auth_resource = AUTH_RESOURCE

    @property
    def client(self) -> ServiceClient:
        return self.settings["mentorhub.client"]

    async def relay(self, method: str, path: str) -> None:
        try:
            data = await self.client.request(method, path)
        except ServiceError as e:
            self.set_status(e.status)
            self.finish(json.dumps({"status": e.status, "message": e.message}))
            return
        self.finish(json.dumps(data))


class MeHandler(ServiceProxyHandler):
    """The server owner's identity and course roles, as the service knows them."""

    @web.authenticated
    @authorized
    async def get(self) -> None:
        await self.relay("GET", "api/me")


default_handlers = [
    (r"/mentorhub/api/me", MeHandler),
]
