"""The extension application, loaded into every user's jupyter-server."""

from __future__ import annotations

from pathlib import Path

from jupyter_server.extension.application import ExtensionApp, ExtensionAppJinjaMixin

from .client import ServiceClient
from .courses import CourseWork
from .handlers import default_handlers

HERE = Path(__file__).parent


class MentorhubExtension(ExtensionAppJinjaMixin, ExtensionApp):
    name = "mentorhub"
    load_other_extensions = True
    static_paths = [str(HERE / "static")]
    template_paths = [str(HERE / "templates")]

    def initialize_settings(self) -> None:
        client = ServiceClient(parent=self, log=self.log)
        self.settings["mentorhub.client"] = client
        self.settings["mentorhub.courses"] = CourseWork(client, parent=self, log=self.log)

    def initialize_handlers(self) -> None:
        self.handlers.extend(default_handlers)
