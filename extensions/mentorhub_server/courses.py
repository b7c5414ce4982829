"""Course work inside the learner's own server: enrol, sync the learner edition home, update.

Runs as the learner; everything comes from the service through the learner's own token.
The files land in ``~/courses/<slug>/`` under nbgitpuller's rule (see sync.py).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path
from typing import Any

from traitlets import Unicode, default
from traitlets.config import LoggingConfigurable

from .client import ServiceClient
from .sync import RemoteFile, pending_update, sync_course, synced_version


class CourseWork(LoggingConfigurable):
    courses_dir = Unicode(help="Where courses land in the learner's home.").tag(config=True)

    @default("courses_dir")
    def _courses_dir_default(self) -> str:
        return str(Path.home() / "courses")

    def __init__(self, client: ServiceClient, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = client
        self._locks: dict[str, asyncio.Lock] = {}

    def course_dir(self, slug: str) -> Path:
        return Path(self.courses_dir) / slug

    async def status(self, slug: str) -> dict:
        """The service's current version and whether this home has it."""
        edition = await self.client.request("GET", f"api/courses/{slug}/edition")
        version = str(edition["version"])
        return {
            "course": slug,
            "version": edition["version"],
            "synced_version": synced_version(self.course_dir(slug)),
            "path": str(self.course_dir(slug)),
            "update_available": pending_update(self.course_dir(slug), version),
        }

    async def sync(self, slug: str) -> dict:
        """Bring the course home up to its current version; one sync per course at a time."""
        lock = self._locks.setdefault(slug, asyncio.Lock())
        async with lock:
            edition = await self.client.request("GET", f"api/courses/{slug}/edition")
            number = edition["version"]
            files = [RemoteFile(f["path"], f["sha256"]) for f in edition["files"]]

            def fetch(path: str) -> bytes:
                return self.client.read_file(f"api/courses/{slug}/versions/{number}/files/{path}")

            loop = asyncio.get_running_loop()
            report = await loop.run_in_executor(
                None, sync_course, self.course_dir(slug), str(number), files, fetch
            )
            await self.client.request("POST", f"api/courses/{slug}/synced", {"version": number})
        result = asdict(report)
        result.update(course=slug, path=str(self.course_dir(slug)))
        return result
