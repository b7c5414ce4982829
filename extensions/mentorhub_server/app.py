"""The extension application, loaded into every user's jupyter-server."""

from __future__ import annotations

from jupyter_server.extension.application import ExtensionApp

from .client import ServiceClient
from .courses import CourseWork
from .handlers import default_handlers


class MentorhubExtension(ExtensionApp):
    name = "mentorhub"
    load_other_extensions = True

    def initialize_settings(self) -> None:
        client = ServiceClient(parent=self, log=self.log)
        self.settings["mentorhub.client"] = client
        self.settings["mentorhub.courses"] = CourseWork(client, parent=self, log=self.log)

    def initialize_handlers(self) -> None:
        self.handlers.extend(default_handlers)
