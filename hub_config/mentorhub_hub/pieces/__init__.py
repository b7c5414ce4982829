"""JupyterHub configuration in small ordered pieces, each ``apply(c, settings)``.

Pieces only assign traits on a :class:`traitlets.config.Config`; nothing here starts
anything, so tests apply them to a bare ``Config()`` and assert on the result.
"""

from __future__ import annotations

from traitlets.config import Config

from ..settings import MentorhubSettings
from . import auth, database, paths, roles, services, spawner

ORDER = (paths, database, auth, spawner, roles, services)


def load_pieces(c: Config, settings: MentorhubSettings) -> Config:
    """Apply every piece, in order, to ``c``."""
    for piece in ORDER:
        piece.apply(c, settings)
    return c
