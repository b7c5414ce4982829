"""JupyterHub's own database (the service keeps a separate one)."""

from __future__ import annotations

from traitlets.config import Config

from ..settings import MentorhubSettings


def apply(c: Config, s: MentorhubSettings) -> None:
    c.JupyterHub.db_url = s.hub_db_url
    # keep schema upgrades explicit (`jupyterhub upgrade-db`) outside the local profile
    c.JupyterHub.upgrade_db = s.profile == "local"
