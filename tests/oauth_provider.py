"""A small but real OAuth2 authorization-code provider for tests (RFC 6749 + PKCE, RFC 7636).

It runs tornado on its own event loop in a background thread, on a free loopback port:

- ``GET /authorize`` checks the client and its redirect URI, then shows a login form
  (or, for a browser that already signed in here, approves at once);
  ``POST /authorize`` with ``username`` and ``password`` (and the same query string)
  signs in and redirects to the client's ``redirect_uri`` with a one-time ``code``.
- ``POST /token`` exchanges a code for a Bearer access token. The client authenticates
  with HTTP Basic or with ``client_id``/``client_secret`` in the body; the code must be
  unexpired, unused, issued to that client for that ``redirect_uri``, and match the
  PKCE challenge if one was given. Replaying a code revokes the tokens issued for it.
- ``GET /userinfo`` answers ``{"sub", "preferred_username", "name"}`` for a Bearer token.

Errors are the standard OAuth2 ones: ``invalid_client`` (401), ``invalid_grant``,
``invalid_request``, ``unsupported_grant_type`` (400) and ``invalid_token`` (401).
Every token-endpoint outcome is recorded in :attr:`OAuthProvider.events` for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import html
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from tornado import web
from tornado.httpserver import HTTPServer

SESSION_COOKIE = "provider_session"
CODE_LIFETIME = 60.0
TOKEN_LIFETIME = 3600


@dataclass
class Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str]


@dataclass
class Grant:
    code: str
    client_id: str
    redirect_uri: str
    username: str
    scope: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires: float
    used: bool = False
    tokens: list[str] = field(default_factory=list)


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))


class OAuthProvider:
    """The provider's state and the thread serving it."""

    def __init__(self, users: dict[str, str], clients: list[Client]) -> None:
        self.users = dict(users)  # username -> password
        self.clients = {c.client_id: c for c in clients}
        self.grants: dict[str, Grant] = {}
        self.tokens: dict[str, tuple[str, float]] = {}  # access token -> (username, expires)
        self.sessions: dict[str, str] = {}  # provider session cookie -> username
        self.events: list[dict] = []
        self.lock = threading.Lock()
        self.port = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # --- lifecycle -------------------------------------------------------------------
    def start(self) -> OAuthProvider:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen(128)
        sock.setblocking(False)
        self.port = sock.getsockname()[1]
        ready = threading.Event()

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            server = HTTPServer(self.make_app())
            server.add_sockets([sock])
            ready.set()
            await self._stop.wait()
            server.stop()
            await server.close_all_connections()

        self._thread = threading.Thread(
            target=asyncio.run, args=(serve(),), name="oauth-provider", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the OAuth provider did not start")
        return self

    def stop(self) -> None:
        if self._thread is None:
            return
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> OAuthProvider:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def make_app(self) -> web.Application:
        return web.Application(
            [
                (r"/authorize", AuthorizeHandler, {"provider": self}),
                (r"/token", TokenHandler, {"provider": self}),
                (r"/userinfo", UserinfoHandler, {"provider": self}),
            ]
        )

    # --- state ---------------------------------------------------------------------
    def record(self, **event) -> None:
        with self.lock:
            self.events.append(event)

    def issue_code(self, client: Client, redirect_uri: str, username: str, args: dict) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.grants[code] = Grant(
                code=code,
                client_id=client.client_id,
                redirect_uri=redirect_uri,
                username=username,
                scope=args.get("scope", ""),
                code_challenge=args.get("code_challenge"),
                code_challenge_method=args.get("code_challenge_method"),
                expires=time.monotonic() + CODE_LIFETIME,
            )
        return code


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


class _Handler(web.RequestHandler):
    def initialize(self, provider: OAuthProvider) -> None:
        self.provider = provider

    def check_xsrf_cookie(self) -> None:  # the form is posted by tests, not by browsers
        pass

    def send_oauth_error(self, e: OAuthError) -> None:
        self.set_status(e.status)
        self.set_header("Cache-Control", "no-store")
        if e.status == 401:
            scheme = "Bearer" if e.error == "invalid_token" else "Basic"
            self.set_header(
                "WWW-Authenticate", f'{scheme} realm="test-provider", error="{e.error}"'
            )
        self.finish({"error": e.error, "error_description": e.description})


class AuthorizeHandler(_Handler):
    def _client_and_redirect(self) -> tuple[Client, str]:
        """Errors here must not redirect (RFC 6749 4.1.2.1): the redirect URI is untrusted."""
        client = self.provider.clients.get(self.get_argument("client_id", ""))
        if client is None:
            raise OAuthError(400, "invalid_request", "unknown client_id")
        redirect_uri = self.get_argument("redirect_uri", "")
        if redirect_uri not in client.redirect_uris:
            raise OAuthError(400, "invalid_request", "redirect_uri is not registered")
        return client, redirect_uri

    def _oauth_args(self) -> dict[str, str]:
        names = ("response_type", "client_id", "redirect_uri", "scope", "state")
        names += ("code_challenge", "code_challenge_method")
        return {n: self.get_argument(n) for n in names if self.get_argument(n, None) is not None}

    def _approve(self, client: Client, redirect_uri: str, username: str) -> None:
        args = self._oauth_args()
        state = {"state": args["state"]} if "state" in args else {}
        if args.get("response_type") != "code":
            self.redirect(with_query(redirect_uri, {"error": "unsupported_response_type", **state}))
            return
        if args.get("code_challenge") and args.get("code_challenge_method", "plain") not in (
            "S256",
            "plain",
        ):
            self.redirect(with_query(redirect_uri, {"error": "invalid_request", **state}))
            return
        code = self.provider.issue_code(client, redirect_uri, username, args)
        self.redirect(with_query(redirect_uri, {"code": code, **state}))

    def get(self) -> None:
        try:
            client, redirect_uri = self._client_and_redirect()
        except OAuthError as e:
            return self.send_oauth_error(e)
        username = self.provider.sessions.get(self.get_cookie(SESSION_COOKIE, ""))
        if username:
            return self._approve(client, redirect_uri, username)
        self._form()

    def post(self) -> None:
        try:
            client, redirect_uri = self._client_and_redirect()
        except OAuthError as e:
            return self.send_oauth_error(e)
        username = self.get_body_argument("username", "")
        password = self.get_body_argument("password", "")
        expected = self.provider.users.get(username)
        if expected is None or not hmac.compare_digest(password, expected):
            self.set_status(401)
            return self._form(error="Wrong username or password.")
        session = secrets.token_urlsafe(16)
        self.provider.sessions[session] = username
        self.set_cookie(SESSION_COOKIE, session, httponly=True)
        self._approve(client, redirect_uri, username)

    def _form(self, error: str = "") -> None:
        self.finish(
            "<!doctype html><title>Sign in</title>"
            f"<p class='error'>{html.escape(error)}</p>"
            f"<form method='post' action='{html.escape(self.request.uri)}'>"
            "<input name='username'><input name='password' type='password'>"
            "<button>Sign in</button></form>"
        )


class TokenHandler(_Handler):
    def post(self) -> None:
        try:
            token = self._exchange()
        except OAuthError as e:
            self.provider.record(endpoint="token", error=e.error, description=e.description)
            return self.send_oauth_error(e)
        self.set_header("Cache-Control", "no-store")
        self.set_header("Pragma", "no-cache")
        self.finish(token)

    def _client(self) -> Client:
        auth = self.request.headers.get("Authorization", "")
        body_id = self.get_body_argument("client_id", None)
        body_secret = self.get_body_argument("client_secret", None)
        if auth.startswith("Basic "):
            if body_secret is not None:
                raise OAuthError(400, "invalid_request", "more than one client authentication")
            try:
                raw = base64.b64decode(auth[len("Basic ") :], validate=True).decode()
                client_id, _, secret = raw.partition(":")
            except ValueError:
                raise OAuthError(401, "invalid_client", "malformed Basic credentials") from None
            client_id, secret = unquote(client_id), unquote(secret)
        else:
            client_id, secret = body_id or "", body_secret or ""
        client = self.provider.clients.get(client_id)
        if client is None or not hmac.compare_digest(secret, client.client_secret):
            raise OAuthError(401, "invalid_client", "client authentication failed")
        return client

    def _exchange(self) -> dict:
        ctype = self.request.headers.get("Content-Type", "")
        if not ctype.startswith("application/x-www-form-urlencoded"):
            raise OAuthError(400, "invalid_request", "use application/x-www-form-urlencoded")
        client = self._client()
        grant_type = self.get_body_argument("grant_type", "")
        if grant_type != "authorization_code":
            raise OAuthError(400, "unsupported_grant_type", f"grant_type {grant_type!r}")
        code = self.get_body_argument("code", "")
        p = self.provider
        with p.lock:
            grant = p.grants.get(code)
            if grant is None:
                raise OAuthError(400, "invalid_grant", "unknown authorization code")
            if grant.used:
                # a replayed code: revoke what it bought (RFC 6749 4.1.2)
                for t in grant.tokens:
                    p.tokens.pop(t, None)
                raise OAuthError(400, "invalid_grant", "authorization code already used")
            grant.used = True
        if time.monotonic() > grant.expires:
            raise OAuthError(400, "invalid_grant", "authorization code expired")
        if grant.client_id != client.client_id:
            raise OAuthError(400, "invalid_grant", "code was issued to another client")
        if self.get_body_argument("redirect_uri", "") != grant.redirect_uri:
            raise OAuthError(400, "invalid_grant", "redirect_uri does not match the authorization")
        if grant.code_challenge:
            verifier = self.get_body_argument("code_verifier", "")
            if grant.code_challenge_method == "S256":
                digest = hashlib.sha256(verifier.encode()).digest()
                computed = base64.urlsafe_b64encode(digest).decode().rstrip("=")
            else:
                computed = verifier
            if not verifier or not hmac.compare_digest(computed, grant.code_challenge):
                raise OAuthError(400, "invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        with p.lock:
            p.tokens[access_token] = (grant.username, time.monotonic() + TOKEN_LIFETIME)
            grant.tokens.append(access_token)
        p.record(endpoint="token", user=grant.username, client_id=client.client_id)
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": grant.scope,
        }


class UserinfoHandler(_Handler):
    def get(self) -> None:
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        with self.provider.lock:
            entry = self.provider.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if entry is None or time.monotonic() > entry[1]:
            return self.send_oauth_error(
                OAuthError(401, "invalid_token", "missing, unknown or expired access token")
            )
        username = entry[0]
        self.finish({"sub": f"sub-{username}", "preferred_username": username, "name": username})
