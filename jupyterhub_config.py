"""JupyterHub configuration for mentorhub: ``jupyterhub -f jupyterhub_config.py``.

Settings come from ``MENTORHUB_*`` environment variables (see
``mentorhub_hub/settings.py``); the configuration itself is in ordered pieces
under ``hub_config/mentorhub_hub/pieces/``.
"""

from mentorhub_hub.pieces import load_pieces
from mentorhub_hub.settings import MentorhubSettings

load_pieces(c, MentorhubSettings.from_env())  # noqa: F821 (c is JupyterHub's config)
