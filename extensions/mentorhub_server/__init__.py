"""mentorhub's jupyter-server extension: the user's server side of the platform."""

from __future__ import annotations

__version__ = "0.1.0"


def _jupyter_server_extension_points() -> list[dict]:
    from .app import MentorhubExtension

    return [{"module": "mentorhub_server", "app": MentorhubExtension}]
