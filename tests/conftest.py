"""Fixtures that start the real thing. Fixture names are prefixed ``mh_``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parent))  # tests/hubtools.py

PG_ADMIN = os.environ.get("MENTORHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def pg_database() -> Iterator[str]:
    """A new, empty PostgreSQL database: its SQLAlchemy URL; dropped afterwards."""
    name = f"mh_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def mh_new_pg_url() -> Iterator[Callable[[], str]]:
    """Factory: the URL of a new, empty PostgreSQL database; all are dropped afterwards."""
    with ExitStack() as stack:
        yield lambda: stack.enter_context(pg_database())


@pytest.fixture(params=["sqlite", "postgresql"])
def mh_db_url(request, tmp_path: Path, mh_new_pg_url) -> str:
    """The service database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mentorhub.sqlite'}"
    return mh_new_pg_url()


DEMO_COURSE = Path(__file__).parent.parent / "courses" / "intro-python"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "T",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "T",
            "GIT_COMMITTER_EMAIL": "t@example.org",
        },
    ).stdout.strip()


def make_course_repo(root: Path, slug: str, **manifest: object) -> Path:
    """A git repository holding the demo course under another slug, with manifest changes."""
    repo = root / slug
    shutil.copytree(DEMO_COURSE, repo)
    data = yaml.safe_load((repo / "mentorhub.yaml").read_text())
    data.update(slug=slug, **manifest)
    (repo / "mentorhub.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first version")
    return repo


@pytest.fixture
def mh_course_repo(tmp_path: Path):
    """Factory: ``mh_course_repo("algebra", enrolment={"policy": "invite"})`` -> repo path."""

    def make(slug: str, **manifest: object) -> Path:
        return make_course_repo(tmp_path / "repos", slug, **manifest)

    return make
