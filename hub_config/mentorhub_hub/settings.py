"""The one validated source of deployment settings.

``jupyterhub_config.py`` reads these from ``MENTORHUB_*`` environment variables
(``MENTORHUB_DATA_DIR``, ``MENTORHUB_PORT``, ...), validates them here, and hands
them to the ordered configuration pieces in :mod:`mentorhub_hub.pieces`. The CLI sets
the same variables, so ``mentorhub demo`` and ``jupyterhub -f jupyterhub_config.py``
configure the hub identically.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from traitlets import Bool, Enum, Integer, List, TraitError, Unicode, default, validate
from traitlets.config import Configurable

ENV_PREFIX = "MENTORHUB_"


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


class MentorhubSettings(Configurable):
    """Deployment settings, one trait per ``MENTORHUB_<NAME>`` variable."""

    profile = Enum(
        ["local", "production"],
        default_value="local",
        help="local: SQLite, demo accounts, local processes. production: OAuth login, external database.",
    ).tag(config=True)

    data_dir = Unicode(
        help="Directory for the hub's and the service's state (databases, cookie secret, accounts)."
    ).tag(config=True)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(Path.cwd() / "mentorhub-data")

    ip = Unicode("127.0.0.1", help="Address the public proxy listens on.").tag(config=True)
    port = Integer(
        8000,
        min=1,
        max=65535,
        help="Public port; the proxy API, hub and service use the next three.",
    ).tag(config=True)

    hub_db_url = Unicode(help="SQLAlchemy URL of JupyterHub's database.").tag(config=True)

    @default("hub_db_url")
    def _default_hub_db_url(self) -> str:
        return f"sqlite:///{Path(self.data_dir) / 'jupyterhub.sqlite'}"

    service_db_url = Unicode(
        help="SQLAlchemy URL of the mentorhub service's database (courses, roles). Held by the service only."
    ).tag(config=True)

    @default("service_db_url")
    def _default_service_db_url(self) -> str:
        return f"sqlite:///{Path(self.data_dir) / 'mentorhub.sqlite'}"

    demo = Bool(False, help="Create the demo accounts and publish the demo course.").tag(
        config=True
    )

    subdomain_host = Unicode(
        "",
        help="Serve each user's server on its own subdomain of this host (JupyterHub.subdomain_host).",
    ).tag(config=True)

    python_prefix = Unicode(
        help="Environment whose bin/ holds the executables the hub starts."
    ).tag(config=True)

    @default("python_prefix")
    def _default_python_prefix(self) -> str:
        return os.path.realpath(sys.prefix)

    home_root = Unicode(
        "/home", help="Parent of the private home directories of system accounts created for users."
    ).tag(config=True)

    # production: OAuth login
    oauth_provider = Enum(
        ["github", "generic"],
        default_value="generic",
        help="OAuth provider of the production profile.",
    ).tag(config=True)
    oauth_client_id = Unicode("", help="OAuth client id.").tag(config=True)
    oauth_client_secret = Unicode("", help="OAuth client secret (never logged).").tag(config=True)
    oauth_callback_url = Unicode(
        "",
        help="OAuth callback URL; default: <subdomain host or http://ip:port>/hub/oauth_callback, derived from each request when ip is a wildcard.",
    ).tag(config=True)
    oauth_authorize_url = Unicode("", help="Generic OAuth2: authorization endpoint.").tag(
        config=True
    )
    oauth_token_url = Unicode("", help="Generic OAuth2: token endpoint.").tag(config=True)
    oauth_userdata_url = Unicode("", help="Generic OAuth2: userinfo endpoint.").tag(config=True)
    oauth_username_claim = Unicode(
        "preferred_username", help="Generic OAuth2: claim holding the username."
    ).tag(config=True)
    oauth_scope = List(
        Unicode(), default_value=["openid", "profile"], help="Scopes requested from the provider."
    ).tag(config=True)
    allowed_users = List(Unicode(), help="Users allowed to log in (production).").tag(config=True)
    admin_users = List(Unicode(), help="JupyterHub admins (production).").tag(config=True)
    allow_all = Bool(
        False, help="Let every account the provider vouches for log in (production)."
    ).tag(config=True)
    instructors = List(
        Unicode(), help="Users who may publish courses (granted custom:mentorhub:publish)."
    ).tag(config=True)
    git_credentials_file = Unicode(
        "",
        help="JSON file of credentials for private course repositories "
        '({"https://host/path/": {"username": ..., "password": ...}}); read by the service only.',
    ).tag(config=True)

    @validate("data_dir", "python_prefix")
    def _absolute(self, proposal):
        return os.path.abspath(proposal.value)

    @validate("hub_db_url", "service_db_url")
    def _db_url(self, proposal):
        url = proposal.value
        if not url.startswith(("sqlite:///", "postgresql")):
            var = ENV_PREFIX + proposal.trait.name.upper()
            raise TraitError(f"{var}: {url!r} is not a sqlite:/// or postgresql:// URL")
        return url

    @property
    def hub_port(self) -> int:
        return self.port + 2

    @property
    def proxy_api_port(self) -> int:
        return self.port + 1

    @property
    def service_port(self) -> int:
        return self.port + 3

    @property
    def public_url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    def bin(self, name: str) -> str:
        """Absolute path of an executable in the mentorhub environment."""
        return str(Path(self.python_prefix) / "bin" / name)

    def check(self) -> None:
        """Refuse settings that cannot make a working hub, with one message."""
        if self.profile == "production":
            missing = [
                n for n in ("oauth_client_id", "oauth_client_secret") if not getattr(self, n)
            ]
            if self.oauth_provider == "generic":
                missing += [
                    n
                    for n in ("oauth_authorize_url", "oauth_token_url", "oauth_userdata_url")
                    if not getattr(self, n)
                ]
            if missing:
                names = ", ".join(ENV_PREFIX + n.upper() for n in missing)
                raise SettingsError(f"production profile needs {names}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> MentorhubSettings:
        """Build settings from ``MENTORHUB_*`` variables; unknown or malformed ones are errors."""
        environ = os.environ if environ is None else environ
        kwargs: dict[str, object] = {}
        traits = cls.class_traits(config=True)
        for key, raw in environ.items():
            if not key.startswith(ENV_PREFIX):
                continue
            name = key[len(ENV_PREFIX) :].lower()
            if name not in traits:
                continue  # other MENTORHUB_* variables belong to the service or the extension
            trait = traits[name]
            try:
                if isinstance(trait, List):
                    kwargs[name] = [v.strip() for v in raw.split(",") if v.strip()]
                else:
                    kwargs[name] = trait.from_string(raw)
            except (ValueError, TraitError) as e:
                raise SettingsError(f"{key}={raw!r}: {e}") from None
        try:
            settings = cls(**kwargs)
        except TraitError as e:
            raise SettingsError(_trait_message(e)) from None
        settings.check()
        return settings

    def to_env(self) -> dict[str, str]:
        """The variables that reproduce these settings in another process."""
        env = {}
        for name, trait in self.traits(config=True).items():
            value = getattr(self, name)
            if isinstance(trait, List):
                value = ",".join(value)
            elif isinstance(trait, Bool):
                value = "1" if value else "0"
            env[ENV_PREFIX + name.upper()] = str(value)
        return env


def _trait_message(error: TraitError) -> str:
    text = str(error)
    for name in MentorhubSettings.class_trait_names(config=True):
        if f"'{name}' trait" in text:
            return f"{ENV_PREFIX}{name.upper()}: {text.splitlines()[0]}"
    return text.splitlines()[0]
