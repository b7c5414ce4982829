"""The production profile's OAuth login, end to end against a local OAuth2 provider.

A real JupyterHub (``jupyterhub -f jupyterhub_config.py`` with ``MENTORHUB_PROFILE=production``)
logs users in through :mod:`oauth_provider` on loopback. As root the hub uses the Local*
OAuthenticator, which creates unix accounts: the usernames here are unique to this module and
the accounts it created are removed at the end.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import requests
from hubtools import free_port_block
from mentorhub_hub.authenticator import PasswordFileAuthenticator, hash_password
from mentorhub_hub.pieces import load_pieces
from mentorhub_hub.pieces.roles import PUBLISH_SCOPE
from mentorhub_hub.settings import MentorhubSettings, SettingsError
from oauth_provider import Client, OAuthProvider
from oauthenticator.generic import GenericOAuthenticator
from oauthenticator.github import GitHubOAuthenticator
from traitlets.config import Config
from traitlets.utils.importstring import import_item

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.prefix) / "bin"
IS_ROOT = os.geteuid() == 0

ADA, BOB, EVE = "oauth-ada", "oauth-bob", "oauth-eve"  # allowed, allowed instructor, not allowed
PASSWORDS = {ADA: "ada-pass-1", BOB: "bob-pass-2", EVE: "eve-pass-3"}
CLIENT_ID, CLIENT_SECRET = "mentorhub-test", "s3cret-for-tests"


def unix_account_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        for task in Path(f"/proc/{todo.pop()}/task").glob("*/children"):
            try:
                kids = [int(k) for k in task.read_text().split()]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def http() -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # loopback only: never through a proxy from the environment
    return s


class ProductionHub:
    """``jupyterhub -f jupyterhub_config.py`` with production settings, in a subprocess."""

    def __init__(self, data_dir: Path, settings: dict[str, str]) -> None:
        self.data_dir = data_dir
        self.port = int(settings["MENTORHUB_PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("MENTORHUB_")}
        self.env = {**inherited, **settings}
        self.log_path = data_dir.parent / "hub.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> ProductionHub:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(BIN / "jupyterhub"), "-f", str(REPO / "jupyterhub_config.py")],
                cwd=self.data_dir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"hub exited {self.proc.returncode}:\n{self.log()[-3000:]}")
            try:
                if http().get(f"{self.url}/hub/api/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"hub did not start:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30) -> None:
        """SIGINT the hub and wait; then kill whatever it started that outlived it."""
        if self.proc is None or self.proc.poll() is not None:
            return
        # the proxy and the service run in sessions of their own: remember them now
        children = [(pid, start_time(pid)) for pid in descendants(self.proc.pid)]
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        for pid, started in children:
            if started is not None and start_time(pid) == started:  # same process, not a reuse
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def unix_accounts():
    """Remove, at the end of the module, the unix accounts this module's hub created."""
    existed = {name for name in PASSWORDS if unix_account_exists(name)}
    yield existed
    if IS_ROOT:
        for name in sorted(set(PASSWORDS) - existed):
            if unix_account_exists(name):
                subprocess.run(["userdel", "-r", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def provider(hub_port):
    callback = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    p = OAuthProvider(PASSWORDS, [Client(CLIENT_ID, CLIENT_SECRET, [callback])]).start()
    yield p
    p.stop()


@pytest.fixture(scope="module")
def hub_port() -> int:
    return free_port_block()


@pytest.fixture(scope="module")
def hub(tmp_path_factory, provider, hub_port, unix_accounts):
    data_dir = tmp_path_factory.mktemp("production") / "data"
    data_dir.mkdir(mode=0o700)
    settings = {
        "MENTORHUB_PROFILE": "production",
        "MENTORHUB_PORT": str(hub_port),
        "MENTORHUB_DATA_DIR": str(data_dir),
        "MENTORHUB_HUB_DB_URL": f"sqlite:///{data_dir / 'jupyterhub.sqlite'}",
        "MENTORHUB_SERVICE_DB_URL": f"sqlite:///{data_dir / 'mentorhub.sqlite'}",
        "MENTORHUB_OAUTH_PROVIDER": "generic",
        "MENTORHUB_OAUTH_CLIENT_ID": CLIENT_ID,
        "MENTORHUB_OAUTH_CLIENT_SECRET": CLIENT_SECRET,
        "MENTORHUB_OAUTH_AUTHORIZE_URL": f"{provider.url}/authorize",
        "MENTORHUB_OAUTH_TOKEN_URL": f"{provider.url}/token",
        "MENTORHUB_OAUTH_USERDATA_URL": f"{provider.url}/userinfo",
        "MENTORHUB_OAUTH_USERNAME_CLAIM": "preferred_username",
        "MENTORHUB_ALLOWED_USERS": f"{ADA},{BOB}",
        "MENTORHUB_ADMIN_USERS": "",
        "MENTORHUB_INSTRUCTORS": BOB,
    }
    h = ProductionHub(data_dir, settings)
    try:
        yield h.start()
    finally:
        h.stop()


# --- the redirect dance, step by step ------------------------------------------------------


def begin_login(hub: ProductionHub, provider: OAuthProvider, user: str) -> tuple:
    """Hub /hub/oauth_login -> provider /authorize (sign in) -> the callback URL, not yet followed."""
    s = http()
    r = s.get(f"{hub.url}/hub/oauth_login", allow_redirects=False, timeout=10)
    assert r.status_code == 302, r.text[:500]
    authorize = r.headers["Location"]
    assert authorize.startswith(f"{provider.url}/authorize?"), authorize
    r = s.get(authorize, timeout=10)
    assert r.status_code == 200 and "<form" in r.text, r.text[:500]
    r = s.post(
        authorize,
        data={"username": user, "password": PASSWORDS[user]},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302, r.text[:500]
    callback = r.headers["Location"]
    assert callback.startswith(f"{hub.url}/hub/oauth_callback?"), callback
    return s, callback


def login(hub: ProductionHub, provider: OAuthProvider, user: str) -> requests.Session:
    s, callback = begin_login(hub, provider, user)
    r = s.get(callback, allow_redirects=False, timeout=30)
    assert r.status_code == 302, (r.status_code, r.text[:1000], hub.log()[-3000:])
    return s


def with_params(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def whoami(hub: ProductionHub, s: requests.Session) -> requests.Response:
    if not s.cookies.get("_xsrf"):
        s.get(f"{hub.url}/hub/home", timeout=10)  # pages set the _xsrf cookie
    headers = {"X-XSRFToken": s.cookies.get("_xsrf") or ""}
    return s.get(f"{hub.url}/hub/api/user", headers=headers, timeout=10)


def new_token(hub: ProductionHub, s: requests.Session, name: str) -> str:
    whoami(hub, s)  # ensures the _xsrf cookie
    r = s.post(
        f"{hub.url}/hub/api/users/{name}/tokens",
        json={"note": "test_production_login"},
        headers={"X-XSRFToken": s.cookies.get("_xsrf")},
        timeout=10,
    )
    assert r.status_code == 201, r.text
    return r.json()["token"]


def token_errors(provider: OAuthProvider) -> list[str]:
    return [e.get("description", "") for e in provider.events if "error" in e]


# --- end to end ------------------------------------------------------------------------------


def test_allowed_user_logs_in_through_the_provider_and_the_hub_knows_who_they_are(hub, provider):
    s = login(hub, provider, ADA)
    r = whoami(hub, s)
    assert r.status_code == 200, r.text
    assert r.json()["name"] == ADA
    assert r.json()["kind"] == "user"
    # the hub got its token from the provider's token endpoint, for this user and client
    assert {"endpoint": "token", "user": ADA, "client_id": CLIENT_ID} in provider.events


def test_allowed_user_gets_a_private_unix_account_when_the_hub_runs_as_root(hub, provider):
    if not IS_ROOT:
        pytest.skip("unix accounts are created only when the hub runs as root")
    login(hub, provider, ADA)
    entry = pwd.getpwnam(ADA)
    assert entry.pw_dir == f"/home/{ADA}"
    assert entry.pw_shell == "/usr/sbin/nologin"


def test_user_known_to_the_provider_but_not_allowed_is_refused_with_403(
    hub, provider, unix_accounts
):
    s, callback = begin_login(hub, provider, EVE)
    r = s.get(callback, allow_redirects=False, timeout=30)
    assert r.status_code == 403, (r.status_code, r.text[:500])
    assert "403" in r.text
    # the provider did vouch for her: the refusal is the hub's allowed_users, not a failed login
    assert {"endpoint": "token", "user": EVE, "client_id": CLIENT_ID} in provider.events
    assert whoami(hub, s).status_code == 403
    if EVE not in unix_accounts:
        assert not unix_account_exists(EVE), "a refused user must not get a unix account"


def test_callback_with_tampered_state_is_refused(hub, provider):
    s, callback = begin_login(hub, provider, ADA)
    forged = base64.urlsafe_b64encode(json.dumps({"state_id": "0" * 32}).encode()).decode()
    r = s.get(with_params(callback, state=forged), allow_redirects=False, timeout=30)
    assert r.status_code == 400, (r.status_code, r.text[:500])
    assert "OAuth state mismatch" in r.text
    assert whoami(hub, s).status_code == 403


def test_callback_with_tampered_code_is_refused_by_the_provider_and_the_hub(hub, provider):
    s, callback = begin_login(hub, provider, ADA)
    code = parse_qs(urlsplit(callback).query)["code"][0]
    forged = code[:-4] + ("AAAA" if not code.endswith("AAAA") else "BBBB")
    r = s.get(with_params(callback, code=forged), allow_redirects=False, timeout=30)
    assert r.status_code >= 400 and "Location" not in r.headers, (r.status_code, r.headers)
    assert "unknown authorization code" in token_errors(provider)
    assert whoami(hub, s).status_code == 403


def test_only_instructors_hold_the_publish_scope(hub, provider):
    scopes = {}
    for user in (ADA, BOB):
        s = login(hub, provider, user)
        token = new_token(hub, s, user)
        r = http().get(
            f"{hub.url}/hub/api/user", headers={"Authorization": f"token {token}"}, timeout=10
        )
        assert r.status_code == 200, r.text
        assert r.json()["name"] == user
        scopes[user] = set(r.json()["scopes"])
    assert PUBLISH_SCOPE in scopes[BOB]
    assert PUBLISH_SCOPE not in scopes[ADA]
    assert "access:services!service=mentorhub" in scopes[ADA]  # both are ordinary users


def test_production_hub_uses_oauth_and_never_the_password_file(hub, provider):
    expected = "LocalGenericOAuthenticator" if IS_ROOT else "GenericOAuthenticator"
    assert f"Using Authenticator: oauthenticator.generic.{expected}" in hub.log()
    assert "PasswordFileAuthenticator" not in hub.log()
    # the login page offers the provider, not a password form
    s = http()
    page = s.get(f"{hub.url}/hub/login", timeout=10)
    assert page.status_code == 200
    assert "oauth_login" in page.text
    assert 'name="password"' not in page.text
    # no demo accounts were made in the data directory
    accounts = hub.data_dir / "accounts"
    assert not accounts.exists()
    # and a demo passwords file, were one there, is not consulted
    accounts.mkdir(mode=0o700)
    try:
        (accounts / "passwords.json").write_text(json.dumps({ADA: hash_password("demo-pw")}))
        r = s.post(
            f"{hub.url}/hub/login",
            data={"username": ADA, "password": "demo-pw", "_xsrf": s.cookies.get("_xsrf")},
            allow_redirects=False,
            timeout=10,
        )
        assert r.status_code != 302, r.headers
        assert whoami(hub, s).status_code == 403
    finally:
        (accounts / "passwords.json").unlink()
        accounts.rmdir()


# --- the provider itself: the OAuth2 errors a client can meet ------------------------------


def authorization_code(provider: OAuthProvider, redirect_uri: str, user: str = ADA) -> str:
    r = http().post(
        f"{provider.url}/authorize",
        params={
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": redirect_uri,
            "state": "s",
        },
        data={"username": user, "password": PASSWORDS[user]},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 302, r.text
    return parse_qs(urlsplit(r.headers["Location"]).query)["code"][0]


def exchange(provider: OAuthProvider, code: str, redirect_uri: str, secret: str = CLIENT_SECRET):
    return http().post(
        f"{provider.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": CLIENT_ID,
            "client_secret": secret,
        },
        timeout=10,
    )


def test_provider_rejects_a_wrong_client_secret(provider, hub_port):
    redirect_uri = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    r = exchange(provider, authorization_code(provider, redirect_uri), redirect_uri, "wrong")
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_client"


def test_provider_rejects_a_reused_code_and_revokes_its_token(provider, hub_port):
    redirect_uri = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    code = authorization_code(provider, redirect_uri)
    first = exchange(provider, code, redirect_uri)
    assert first.status_code == 200, first.text
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert http().get(f"{provider.url}/userinfo", headers=bearer, timeout=10).json() == {
        "sub": f"sub-{ADA}",
        "preferred_username": ADA,
        "name": ADA,
    }
    again = exchange(provider, code, redirect_uri)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert http().get(f"{provider.url}/userinfo", headers=bearer, timeout=10).status_code == 401


def test_provider_rejects_a_redirect_uri_other_than_the_authorized_one(provider, hub_port):
    redirect_uri = f"http://127.0.0.1:{hub_port}/hub/oauth_callback"
    code = authorization_code(provider, redirect_uri)
    r = exchange(provider, code, f"http://127.0.0.1:{hub_port}/elsewhere")
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_grant"
    # and /authorize never redirects to an unregistered URI
    r = http().get(
        f"{provider.url}/authorize",
        params={"response_type": "code", "client_id": CLIENT_ID, "redirect_uri": "http://evil/"},
        allow_redirects=False,
        timeout=10,
    )
    assert r.status_code == 400 and "Location" not in r.headers


# --- config as data: the github provider ----------------------------------------------------


def github_settings(tmp_path: Path, **overrides) -> MentorhubSettings:
    values = {
        "profile": "production",
        "oauth_provider": "github",
        "oauth_client_id": "gh-client-id",
        "oauth_client_secret": "gh-client-secret",
        "allowed_users": ["octo-ada", "octo-bob"],
        "admin_users": ["octo-root"],
        "port": 18000,
        "data_dir": str(tmp_path),
        **overrides,
    }
    return MentorhubSettings(**values)


def test_github_provider_configures_the_github_oauthenticator(tmp_path):
    c = load_pieces(Config(), github_settings(tmp_path))
    name = "LocalGitHubOAuthenticator" if IS_ROOT else "GitHubOAuthenticator"
    assert c.JupyterHub.authenticator_class == f"oauthenticator.github.{name}"
    cls = import_item(c.JupyterHub.authenticator_class)
    assert issubclass(cls, GitHubOAuthenticator)
    assert not issubclass(cls, PasswordFileAuthenticator)
    # the traits land on the class JupyterHub will instantiate
    auth = cls(config=c)
    assert auth.client_id == "gh-client-id"
    assert auth.client_secret == "gh-client-secret"
    assert auth.oauth_callback_url == "http://127.0.0.1:18000/hub/oauth_callback"
    assert auth.allowed_users == {"octo-ada", "octo-bob"}
    assert auth.admin_users == {"octo-root"}
    assert auth.allow_all is False
    assert auth.authorize_url == "https://github.com/login/oauth/authorize"  # github's own
    if IS_ROOT:
        assert auth.create_system_users is True
        assert auth.add_user_cmd[0] == "adduser"


def test_github_provider_uses_an_explicit_callback_url(tmp_path):
    url = "https://hub.example.org/hub/oauth_callback"
    c = load_pieces(Config(), github_settings(tmp_path, oauth_callback_url=url))
    auth = import_item(c.JupyterHub.authenticator_class)(config=c)
    assert auth.oauth_callback_url == url


def test_generic_provider_settings_do_not_leak_into_github(tmp_path):
    s = github_settings(tmp_path, oauth_authorize_url="http://127.0.0.1:1/authorize")
    c = load_pieces(Config(), s)
    auth = import_item(c.JupyterHub.authenticator_class)(config=c)
    assert not isinstance(auth, GenericOAuthenticator)
    assert auth.authorize_url == "https://github.com/login/oauth/authorize"


@pytest.mark.parametrize(
    "present, missing",
    [
        ({}, ["MENTORHUB_OAUTH_CLIENT_ID", "MENTORHUB_OAUTH_CLIENT_SECRET"]),
        ({"MENTORHUB_OAUTH_CLIENT_ID": "x"}, ["MENTORHUB_OAUTH_CLIENT_SECRET"]),
        ({"MENTORHUB_OAUTH_CLIENT_SECRET": "y"}, ["MENTORHUB_OAUTH_CLIENT_ID"]),
    ],
)
def test_github_provider_without_client_credentials_is_a_settings_error(tmp_path, present, missing):
    env = {
        "MENTORHUB_PROFILE": "production",
        "MENTORHUB_OAUTH_PROVIDER": "github",
        "MENTORHUB_DATA_DIR": str(tmp_path),
        **present,
    }
    with pytest.raises(SettingsError) as e:
        MentorhubSettings.from_env(env)
    message = str(e.value)
    for name in missing:
        assert name in message
    for name in {"MENTORHUB_OAUTH_CLIENT_ID", "MENTORHUB_OAUTH_CLIENT_SECRET"} - set(missing):
        assert name not in message
    assert "AUTHORIZE_URL" not in message  # github needs no endpoints


@pytest.mark.parametrize("ip", ["0.0.0.0", "", "::"])
def test_wildcard_listen_address_is_not_used_as_the_callback_host(tmp_path, ip):
    c = load_pieces(Config(), github_settings(tmp_path, ip=ip))
    auth = import_item(c.JupyterHub.authenticator_class)(config=c)
    # unset: OAuthenticator derives it from the host the browser used, where the state cookie is
    assert auth.oauth_callback_url == ""


@pytest.mark.parametrize("host", ["https://hub.example.org", "hub.example.org"])
def test_callback_url_is_on_the_subdomain_host_when_there_is_one(tmp_path, host):
    c = load_pieces(Config(), github_settings(tmp_path, subdomain_host=host))
    auth = import_item(c.JupyterHub.authenticator_class)(config=c)
    assert auth.oauth_callback_url == "https://hub.example.org/hub/oauth_callback"
