"""Started by an ordinary account, mentorhub runs in single-account dev mode.

Every user's server then runs as that same account, with homes under the data directory:
it works, and (as the README says) isolates nobody. Needs root to make the account.
"""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubtools import Hub, execute

DEV_ACCOUNT = "mhdev"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="making an ordinary account needs root")


@pytest.fixture(scope="module")
def mh_dev_hub() -> Iterator[Hub]:
    try:
        pwd.getpwnam(DEV_ACCOUNT)
    except KeyError:
        subprocess.run(
            ["adduser", "--quiet", "--disabled-password", "--gecos", "", DEV_ACCOUNT], check=True
        )
    root = Path(tempfile.mkdtemp(prefix="mh-dev-"))
    shutil.chown(root, DEV_ACCOUNT, DEV_ACCOUNT)
    env = {"HOME": pwd.getpwnam(DEV_ACCOUNT).pw_dir}
    try:
        with Hub(root / "data", as_user=DEV_ACCOUNT, env=env).running() as hub:
            yield hub
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_servers_run_as_the_account_that_started_the_hub(mh_dev_hub: Hub) -> None:
    token = mh_dev_hub.token(mh_dev_hub.login("learner1"))
    mh_dev_hub.spawn(token, "learner1")
    out = asyncio.run(
        execute(
            f"{mh_dev_hub.url}/user/learner1/", token, "import os; print(os.getuid(), os.getcwd())"
        )
    )
    uid, cwd = out.split()
    assert int(uid) == pwd.getpwnam(DEV_ACCOUNT).pw_uid
    assert cwd == str(mh_dev_hub.data_dir / "homes" / "learner1")


def test_dev_mode_says_it_isolates_nobody(mh_dev_hub: Hub) -> None:
    assert "single-account dev mode" in mh_dev_hub.log()
