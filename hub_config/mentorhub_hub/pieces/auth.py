"""Who may log in: hashed demo accounts locally, OAuth in production."""

from __future__ import annotations

import os
from pathlib import Path

from traitlets.config import Config

from ..settings import MentorhubSettings


def apply(c: Config, s: MentorhubSettings) -> None:
    if s.profile == "production":
        _oauth(c, s)
    else:
        c.JupyterHub.authenticator_class = "mentorhub_hub.authenticator.PasswordFileAuthenticator"
        c.PasswordFileAuthenticator.password_file = str(
            Path(s.data_dir) / "accounts" / "passwords.json"
        )
        c.PasswordFileAuthenticator.allow_all = (
            True  # every account in the file; there is no sign-up
        )
        # as root, each user gets a unix account of their own with a private home
        if os.geteuid() == 0:
            c.PasswordFileAuthenticator.create_system_users = True
            c.PasswordFileAuthenticator.add_user_cmd = _add_user_cmd(s)
        c.PasswordFileAuthenticator.admin_users = set(s.admin_users)


def _oauth(c: Config, s: MentorhubSettings) -> None:
    local = os.geteuid() == 0  # local processes as root need a unix account per user
    module, name = {
        "github": ("oauthenticator.github", "GitHubOAuthenticator"),
        "generic": ("oauthenticator.generic", "GenericOAuthenticator"),
    }[s.oauth_provider]
    if local:
        name = "Local" + name
    c.JupyterHub.authenticator_class = f"{module}.{name}"
    section = c[name]
    if local:
        section.create_system_users = True
        section.add_user_cmd = _add_user_cmd(s)
    section.client_id = s.oauth_client_id
    section.client_secret = s.oauth_client_secret
    callback_url = _callback_url(s)
    if callback_url:
        section.oauth_callback_url = callback_url
    section.allowed_users = set(s.allowed_users)
    section.admin_users = set(s.admin_users)
    section.allow_all = s.allow_all
    if s.oauth_provider == "generic":
        section.authorize_url = s.oauth_authorize_url
        section.token_url = s.oauth_token_url
        section.userdata_url = s.oauth_userdata_url
        section.username_claim = s.oauth_username_claim
        section.scope = list(s.oauth_scope)


WILDCARD_IPS = ("", "0.0.0.0", "::", "[::]")


def _callback_url(s: MentorhubSettings) -> str:
    """Where the provider sends the browser back; "" lets OAuthenticator derive it per request.

    The browser must come back to the host it started the login on (the OAuth state is a cookie
    of that host), so the listen address is a usable default only when it is a concrete one.
    """
    if s.oauth_callback_url:
        return s.oauth_callback_url
    if s.subdomain_host:  # the hub is served at the subdomain host itself
        host = s.subdomain_host.rstrip("/")
        if "://" not in host:
            host = "https://" + host  # as JupyterHub reads a subdomain_host without a scheme
        return f"{host}/hub/oauth_callback"
    if s.ip in WILDCARD_IPS:  # http://0.0.0.0:8000/... is no address a browser can come back to
        return ""
    return f"{s.public_url}/hub/oauth_callback"


def _add_user_cmd(s: MentorhubSettings) -> list[str]:
    """``adduser`` for a new user: no password, no login shell, a private (0700) home."""
    return [
        "adduser",
        "--quiet",
        "--disabled-password",
        "--gecos",
        "",
        "--shell",
        "/usr/sbin/nologin",
        "--home",
        f"{s.home_root}/USERNAME",
    ]  # JupyterHub appends the username
