"""Password login against a file of salted scrypt hashes (the local profile's accounts).

The file maps usernames to hashes; nobody's password is stored in clear or shared.
It is read again whenever it changes, so accounts can be added without a restart.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from jupyterhub.auth import LocalAuthenticator
from traitlets import Unicode, default

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt:N:r:p:salt:hash``, salt and hash in base64."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    b64 = base64.b64encode
    return f"scrypt:{SCRYPT_N}:{SCRYPT_R}:{SCRYPT_P}:{b64(salt).decode()}:{b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split(":")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p)
        )
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def write_password_file(path: Path, hashes: dict[str, str]) -> None:
    """Replace the file atomically, readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(hashes, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


class PasswordFileAuthenticator(LocalAuthenticator):
    """Log in with a username and password checked against ``password_file``."""

    password_file = Unicode(
        config=True, help="JSON file mapping usernames to scrypt hashes (see hash_password)."
    )

    _cache: tuple[float, dict[str, str]] = (-1.0, {})

    @default("allowed_users")
    def _accounts_exist_from_the_start(self) -> set[str]:
        # JupyterHub adds allowed users to its database at start-up, so every account has a
        # hub user (and a unix account) before its first login: course groups can name them
        return set(self._hashes())

    def _hashes(self) -> dict[str, str]:
        try:
            mtime = os.stat(self.password_file).st_mtime
        except FileNotFoundError:
            return {}
        if mtime != self._cache[0]:
            with open(self.password_file) as f:
                self._cache = (mtime, json.load(f))
        return self._cache[1]

    async def authenticate(self, handler, data: dict) -> str | None:
        username = self.normalize_username(data.get("username", ""))
        stored = self._hashes().get(username)
        # hash even for unknown users so timing does not reveal who has an account
        ok = verify_password(data.get("password", ""), stored or hash_password(""))
        if stored and ok:
            return username
        self.log.warning("Failed login for %r", username)
        return None
