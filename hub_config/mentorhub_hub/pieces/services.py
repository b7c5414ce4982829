"""The hub-managed mentorhub service, the only holder of shared state and secrets."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from ..settings import MentorhubSettings


def apply(c: Config, s: MentorhubSettings) -> None:
    env = {
        "MENTORHUB_SERVICE_DB_URL": s.service_db_url,
        "MENTORHUB_SERVICE_DATA_DIR": str(Path(s.data_dir) / "service"),
    }
    if s.git_credentials_file:
        env["MENTORHUB_SERVICE_GIT_CREDENTIALS_FILE"] = s.git_credentials_file
    if s.demo:
        from ..demo import demo_seed_env

        env.update(demo_seed_env())
    c.JupyterHub.services = [
        {
            "name": "mentorhub",
            "url": f"http://127.0.0.1:{s.service_port}",
            "command": [s.bin("mentorhub-service")],
            "environment": env,
            "oauth_no_confirm": True,
            "display": False,
        }
    ]
