"""The hub configuration as data: apply the pieces to a bare Config and read the traits."""

from __future__ import annotations

import os

import pytest
from mentorhub_hub.homes import ensure_private_home
from mentorhub_hub.pieces import load_pieces
from mentorhub_hub.pieces.roles import PUBLISH_SCOPE, SERVICE_ACCESS
from mentorhub_hub.pieces.spawner import SERVER_TOKEN_SCOPES
from mentorhub_hub.settings import MentorhubSettings, SettingsError
from traitlets.config import Config


def local_config(tmp_path, **env) -> Config:
    settings = MentorhubSettings.from_env(
        {"MENTORHUB_DATA_DIR": str(tmp_path), "MENTORHUB_PORT": "9000", **env}
    )
    return load_pieces(Config(), settings)


def test_local_profile_uses_sqlite_in_the_data_dir(tmp_path) -> None:
    c = local_config(tmp_path)
    assert c.JupyterHub.db_url == f"sqlite:///{tmp_path}/jupyterhub.sqlite"
    assert c.JupyterHub.services[0]["environment"]["MENTORHUB_SERVICE_DB_URL"] == (
        f"sqlite:///{tmp_path}/mentorhub.sqlite"
    )
    assert c.JupyterHub.cookie_secret_file == f"{tmp_path}/jupyterhub_cookie_secret"


def test_ports_follow_the_public_port(tmp_path) -> None:
    c = local_config(tmp_path)
    assert (c.JupyterHub.port, c.JupyterHub.hub_port) == (9000, 9002)
    assert c.ConfigurableHTTPProxy.api_url == "http://127.0.0.1:9001"
    assert c.JupyterHub.services[0]["url"] == "http://127.0.0.1:9003"
    assert c.Spawner.environment["MENTORHUB_SERVICE_URL"] == "http://127.0.0.1:9003"


def test_local_profile_logs_in_with_hashed_password_file(tmp_path) -> None:
    c = local_config(tmp_path)
    assert (
        c.JupyterHub.authenticator_class == "mentorhub_hub.authenticator.PasswordFileAuthenticator"
    )
    assert c.PasswordFileAuthenticator.password_file == f"{tmp_path}/accounts/passwords.json"


@pytest.mark.skipif(os.geteuid() != 0, reason="isolation by unix accounts needs root")
def test_as_root_each_user_gets_a_private_unix_account(tmp_path) -> None:
    c = local_config(tmp_path)
    assert c.JupyterHub.spawner_class == "mentorhub_hub.spawners.MentorhubLocalSpawner"
    assert c.PasswordFileAuthenticator.create_system_users is True
    assert c.Spawner.pre_spawn_hook is ensure_private_home
    assert "/usr/sbin/nologin" in c.PasswordFileAuthenticator.add_user_cmd


def test_user_servers_run_the_lean_launcher_and_get_no_secrets(tmp_path) -> None:
    c = local_config(tmp_path, MENTORHUB_SERVICE_DB_URL="postgresql://u:hunter2@db/x")
    assert c.Spawner.cmd[0].endswith("/bin/mentorhub-singleuser")
    env = repr(dict(c.Spawner.environment))
    assert "hunter2" not in env and "DB_URL" not in env and "TOKEN" not in env


def test_server_token_reaches_the_service_and_nothing_of_other_users() -> None:
    assert "access:services!service=mentorhub" in SERVER_TOKEN_SCOPES
    assert all(
        s.endswith("!user") or s.startswith(("access:services!", "custom:"))
        for s in SERVER_TOKEN_SCOPES
    )


def test_every_user_may_call_the_service_only_instructors_publish(tmp_path) -> None:
    c = local_config(tmp_path, MENTORHUB_DEMO="1", MENTORHUB_INSTRUCTORS="grace")
    roles = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert roles["user"]["scopes"] == ["self", SERVICE_ACCESS]
    assert roles["mentorhub-author"]["scopes"] == [PUBLISH_SCOPE]
    assert roles["mentorhub-author"]["users"] == ["grace", "instructor"]
    assert PUBLISH_SCOPE in c.JupyterHub.custom_scopes


def test_service_holds_only_the_scopes_it_needs(tmp_path) -> None:
    c = local_config(tmp_path)
    service_role = next(r for r in c.JupyterHub.load_roles if r["name"] == "mentorhub-service")
    assert service_role["services"] == ["mentorhub"]
    assert not {"admin:users", "admin:servers", "tokens", "access:servers"} & set(
        service_role["scopes"]
    )


def test_demo_seeds_the_course_through_the_service(tmp_path) -> None:
    c = local_config(tmp_path, MENTORHUB_DEMO="1")
    env = c.JupyterHub.services[0]["environment"]
    assert env["MENTORHUB_SEED_COURSE_DIR"].endswith("intro-python")
    assert os.path.isfile(os.path.join(env["MENTORHUB_SEED_COURSE_DIR"], "mentorhub.yaml"))


def test_subdomain_host_is_passed_to_jupyterhub(tmp_path) -> None:
    c = local_config(tmp_path, MENTORHUB_SUBDOMAIN_HOST="https://hub.example.org")
    assert c.JupyterHub.subdomain_host == "https://hub.example.org"


@pytest.mark.parametrize(
    "env, names",
    [
        ({"MENTORHUB_PORT": "eighty"}, "MENTORHUB_PORT"),
        ({"MENTORHUB_PORT": "70000"}, "MENTORHUB_PORT"),
        ({"MENTORHUB_PROFILE": "staging"}, "MENTORHUB_PROFILE"),
        ({"MENTORHUB_HUB_DB_URL": "mysql://x"}, "MENTORHUB_HUB_DB_URL"),
        ({"MENTORHUB_PROFILE": "production"}, "MENTORHUB_OAUTH_CLIENT_ID"),
    ],
)
def test_broken_settings_name_the_variable(env, names) -> None:
    with pytest.raises(SettingsError, match=names):
        MentorhubSettings.from_env(env)


def test_repository_credentials_reach_the_service_only(tmp_path) -> None:
    c = local_config(tmp_path, MENTORHUB_GIT_CREDENTIALS_FILE="/etc/mentorhub/git.json")
    service_env = c.JupyterHub.services[0]["environment"]
    assert service_env["MENTORHUB_SERVICE_GIT_CREDENTIALS_FILE"] == "/etc/mentorhub/git.json"
    assert "git.json" not in repr(dict(c.Spawner.environment))
