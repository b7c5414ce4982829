"""Publishing a course repository from the instructor's side (their server or terminal).

A local repository is sent to the service as a git bundle (every branch, tag and HEAD in
one file), so the service never reads anyone's home; a URL is fetched by the service.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

BUNDLE_TYPE = "application/x-git-bundle"


class NotARepository(ValueError):
    pass


def bundle_bytes(path: Path) -> bytes:
    """The repository at ``path`` as a git bundle."""
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "course.bundle"
        try:
            subprocess.run(
                ["git", "-C", str(path), "bundle", "create", str(dest), "HEAD", "--all"],
                check=True,
                capture_output=True,
                text=True,
                timeout=300,
            )
        except subprocess.CalledProcessError as e:
            raise NotARepository(
                f"{path} is not a git repository with commits: {e.stderr.strip()}"
            ) from None
        return dest.read_bytes()
