"""The service application: ``initialize()`` is its list of start-up steps."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

from jupyterhub.services.auth import HubOAuth
from tornado import web
from traitlets import Dict, Integer, Unicode, default
from traitlets.config import Application

from . import __version__
from .courses import CourseManager
from .db import Database, make_engine, upgrade
from .enrolment import EnrolmentManager
from .handlers import default_handlers
from .hub_groups import HubGroups
from .orm import Role
from .publisher import Publisher
from .publishing.fetch import FetchLimits, GitCredentials


def _env(name: str, fallback: str = "") -> str:
    return os.environ.get(name, fallback)


class MentorhubService(Application):
    name = "mentorhub-service"
    version = __version__
    description = "Hub-side holder of courses, roles and secrets for mentorhub."

    db_url = Unicode(
        help="SQLAlchemy URL of the service database (env MENTORHUB_SERVICE_DB_URL)."
    ).tag(config=True)

    @default("db_url")
    def _db_url_default(self) -> str:
        return _env("MENTORHUB_SERVICE_DB_URL", "sqlite:///mentorhub.sqlite")

    service_url = Unicode(
        help="Where to listen (set by JupyterHub as JUPYTERHUB_SERVICE_URL)."
    ).tag(config=True)

    @default("service_url")
    def _service_url_default(self) -> str:
        return _env("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")

    prefix = Unicode(help="URL prefix behind the proxy (JUPYTERHUB_SERVICE_PREFIX).").tag(
        config=True
    )

    @default("prefix")
    def _prefix_default(self) -> str:
        return _env("JUPYTERHUB_SERVICE_PREFIX", "/services/mentorhub/")

    data_dir = Unicode(
        help="Where the service keeps files: published editions (env MENTORHUB_SERVICE_DATA_DIR)."
    ).tag(config=True)

    @default("data_dir")
    def _data_dir_default(self) -> str:
        return _env("MENTORHUB_SERVICE_DATA_DIR", os.path.abspath("mentorhub-service"))

    git_credentials_file = Unicode(
        help="JSON file mapping URL prefixes to {username, password} for private course repositories "
        "(env MENTORHUB_SERVICE_GIT_CREDENTIALS_FILE). Read by the service only; never sent to users."
    ).tag(config=True)

    @default("git_credentials_file")
    def _git_credentials_default(self) -> str:
        return _env("MENTORHUB_SERVICE_GIT_CREDENTIALS_FILE")

    max_repo_mb = Integer(
        500, help="Largest course repository (history included) accepted, in MiB."
    ).tag(config=True)
    fetch_timeout = Integer(120, help="Seconds a repository fetch may take.").tag(config=True)
    publish_workers = Integer(
        2, min=1, help="Publishing jobs (git, validation, edition build) run at once."
    ).tag(config=True)

    seed_course_dir = Unicode(help="A course directory to publish at start-up (the demo).").tag(
        config=True
    )

    @default("seed_course_dir")
    def _seed_dir_default(self) -> str:
        return _env("MENTORHUB_SEED_COURSE_DIR")

    seed_roles = Dict(help="username -> role in the seeded course.").tag(config=True)

    @default("seed_roles")
    def _seed_roles_default(self) -> dict:
        return json.loads(_env("MENTORHUB_SEED_ROLES", "{}"))

    auth_cache_seconds = Integer(
        1,
        min=1,
        help="Seconds a token's identity, as the hub vouched for it, is reused before asking again: "
        "the longest an expired or revoked token keeps working here.",
    ).tag(config=True)

    def initialize(self, argv: list[str] | None = None) -> None:
        super().initialize(argv)
        self.init_db()
        self.init_managers()
        self.init_hub()
        self.init_webapp()

    def init_db(self) -> None:
        self.engine = make_engine(self.db_url)
        upgrade(self.engine)
        self.db = Database(self.engine)

    def init_managers(self) -> None:
        self.courses = CourseManager(self.db)
        self.enrolment = EnrolmentManager(self.db)
        limits = FetchLimits(
            max_repo_bytes=self.max_repo_mb * 2**20, timeout_seconds=float(self.fetch_timeout)
        )
        self.publisher = Publisher(
            self.db, self.courses, Path(self.data_dir) / "editions", limits, self._git_credentials()
        )
        self.executor = ThreadPoolExecutor(self.publish_workers, thread_name_prefix="publish")

    def _git_credentials(self) -> dict[str, GitCredentials]:
        if not self.git_credentials_file:
            return {}
        data = json.loads(Path(self.git_credentials_file).read_text())
        return {prefix: GitCredentials(c["username"], c["password"]) for prefix, c in data.items()}

    def init_hub(self) -> None:
        # handlers find HubOAuth through its singleton, so configure the singleton itself
        self.hub_auth = HubOAuth.instance(cache_max_age=self.auth_cache_seconds)
        self.hub_groups = HubGroups(self.hub_auth.api_url, self.hub_auth.api_token)

    def init_webapp(self) -> None:
        prefix = self.prefix if self.prefix.endswith("/") else self.prefix + "/"
        self.webapp = web.Application(
            default_handlers(prefix),
            cookie_secret=os.urandom(32),
            xsrf_cookies=False,  # checked per request in APIHandler.check_xsrf_cookie
            hub_auth=self.hub_auth,
            **{
                "mentorhub.courses": self.courses,
                "mentorhub.enrolment": self.enrolment,
                "mentorhub.publisher": self.publisher,
                "mentorhub.executor": self.executor,
                "mentorhub.max_upload_bytes": self.max_repo_mb * 2**20,
                "mentorhub.hub_groups": self.hub_groups,
            },
        )

    async def seed(self) -> None:
        if not self.seed_course_dir:
            return
        roles = {user: Role(role) for user, role in self.seed_roles.items()}
        published = await asyncio.get_running_loop().run_in_executor(
            self.executor, self.publisher.publish_directory, Path(self.seed_course_dir), roles
        )
        self.log.info(
            "published %s version %d (%d roles)", published.slug, published.version, len(roles)
        )

    async def start_async(self) -> None:
        url = urlparse(self.service_url)
        # 1 MiB is plenty for JSON; publishing raises it once the hub vouched for the caller
        self.webapp.listen(url.port, url.hostname, xheaders=True, max_body_size=1 << 20)
        self.log.info("mentorhub service listening on %s", self.service_url)
        await self.seed()
        await self.hub_groups.sync_all(self.courses.all_memberships())
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    def start(self) -> None:
        asyncio.run(self.start_async())


def main() -> None:
    app = MentorhubService.instance()
    app.initialize()
    app.start()
