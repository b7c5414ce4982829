"""How a user's notebook server starts: a local process running mentorhub-singleuser."""

from __future__ import annotations

import os
import re
from pathlib import Path

from traitlets.config import Config

from ..homes import ensure_private_home
from ..settings import MentorhubSettings

# What $JUPYTERHUB_API_TOKEN in a user's server may do, intersected with what its user holds:
# report activity, call the mentorhub service as that user, publish if the user may.
SERVER_TOKEN_SCOPES = [
    "users:activity!user",
    "read:users:groups!user",
    "access:services!service=mentorhub",
    "custom:mentorhub:publish",
]

# who teaches: course groups mirrored by the service (course-<slug>-<role>s), and authors
STAFF_GROUP = re.compile(r"^course-.+-(instructors|mentors)$")
AUTHOR_ROLE = "mentorhub-author"


def server_profile(spawner) -> str:
    """``MENTORHUB_SERVER_PROFILE`` of a user's server, decided at each spawn.

    ``staff`` (admins, course authors, instructors and mentors of any course) get every
    installed server extension; everyone else is a ``learner``, whose server skips the
    extensions only staff use (see mentorhub_hub.singleuser) and so starts faster.
    """
    user = spawner.user
    if (
        user.admin
        or any(role.name == AUTHOR_ROLE for role in user.roles)
        or any(STAFF_GROUP.match(group.name) for group in user.groups)
    ):
        return "staff"
    return "learner"


def apply(c: Config, s: MentorhubSettings) -> None:
    if os.geteuid() == 0:
        # each server runs as its user's own unix account, in that account's private home
        c.JupyterHub.spawner_class = "mentorhub_hub.spawners.MentorhubLocalSpawner"
        c.Spawner.pre_spawn_hook = ensure_private_home
    else:
        # single-account dev mode: every server runs as the account that started the hub
        c.JupyterHub.spawner_class = "mentorhub_hub.spawners.MentorhubDevSpawner"
        c.SimpleLocalProcessSpawner.home_dir_template = str(
            Path(s.data_dir) / "homes" / "{username}"
        )
    c.Spawner.cmd = [s.bin("mentorhub-singleuser")]
    c.Spawner.default_url = "/lab"
    c.Spawner.server_token_scopes = SERVER_TOKEN_SCOPES
    c.Spawner.environment = {
        # where the extension reaches the service; an address, not a secret
        "MENTORHUB_SERVICE_URL": f"http://127.0.0.1:{s.service_port}",
        # which server extensions the launcher loads: learner or staff
        "MENTORHUB_SERVER_PROFILE": server_profile,
    }
    c.Spawner.start_timeout = 60
    c.Spawner.http_timeout = 30
