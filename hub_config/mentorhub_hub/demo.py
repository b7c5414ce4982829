"""The demo: one instructor, one mentor, three learners, and the demo course.

Passwords are random per data directory, made on the first run and kept (hashed for the
hub, in clear only in a 0600 file beside it, so the CLI can print them again).
"""

from __future__ import annotations

import json
import os
import secrets
from importlib.resources import files
from pathlib import Path

from .authenticator import hash_password, write_password_file

DEMO_COURSE = "intro-python"
DEMO_ROLES = {
    "instructor": "instructor",
    "mentor": "mentor",
    "learner1": "learner",
    "learner2": "learner",
    "learner3": "learner",
}
DEMO_INSTRUCTORS = [u for u, r in DEMO_ROLES.items() if r == "instructor"]


def demo_course_dir() -> Path:
    """The demo course shipped with the package (``courses/`` in the repository)."""
    return Path(str(files("mentorhub_hub") / "courses" / DEMO_COURSE))


def demo_seed_env() -> dict[str, str]:
    """What the service needs to publish the demo course and give the demo roles."""
    return {
        "MENTORHUB_SEED_COURSE_DIR": str(demo_course_dir()),
        "MENTORHUB_SEED_ROLES": json.dumps(DEMO_ROLES),
    }


def ensure_demo_accounts(data_dir: str | Path) -> dict[str, str]:
    """Create the demo accounts once; return username -> password (same on every run)."""
    accounts_dir = Path(data_dir) / "accounts"
    clear = accounts_dir / "demo-accounts.json"
    if clear.exists():
        passwords = json.loads(clear.read_text())
        if set(passwords) == set(DEMO_ROLES):
            return passwords
    passwords = {user: secrets.token_urlsafe(9) for user in DEMO_ROLES}
    write_password_file(
        accounts_dir / "passwords.json", {u: hash_password(p) for u, p in passwords.items()}
    )
    fd = os.open(clear, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(passwords, f, indent=1)
    return passwords
