"""Private home directories for users' unix accounts."""

from __future__ import annotations

import os
import pwd
import stat

from jupyterhub.spawner import Spawner


def ensure_private_home(spawner: Spawner) -> None:
    """Pre-spawn hook: the user's home exists, is theirs, and only they can enter it.

    ``adduser``'s mode for new homes is a site setting (``DIR_MODE``); isolation between
    learners must not depend on it, so every spawn re-asserts 0700.
    """
    entry = pwd.getpwnam(spawner.user.name)
    home = entry.pw_dir
    os.makedirs(home, mode=0o700, exist_ok=True)
    st = os.stat(home)
    if (st.st_uid, st.st_gid) != (entry.pw_uid, entry.pw_gid):
        os.chown(home, entry.pw_uid, entry.pw_gid)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(home, 0o700)
