"""Fixtures that start the real thing. Fixture names are prefixed ``mh_``."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/hubtools.py

PG_ADMIN = os.environ.get("MENTORHUB_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture
def mh_new_pg_url():
    """Factory: the URL of a new, empty PostgreSQL database; all are dropped afterwards."""
    made: list[str] = []

    def make() -> str:
        name = f"mh_test_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        return f"{base}/{name}"

    yield make
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def mh_db_url(request, tmp_path: Path, mh_new_pg_url) -> str:
    """The service database URL, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'mentorhub.sqlite'}"
    return mh_new_pg_url()
