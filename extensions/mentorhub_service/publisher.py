"""Publishing: repository -> validated course -> learner edition on disk -> a new version.

All or nothing: the edition is built in a scratch directory and moved into place, and
the version row is written only after that; a refused repository leaves no trace. No
code from the repository runs here (see publishing/fetch.py and publishing/validate.py).

Editions live at ``<editions_root>/<slug>/<commit>/``; learners read them only through
the service, file by file, after their role in the course is checked.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .courses import CourseManager, CourseNotFound, RoleChange, find_course, role_in
from .db import Database
from .orm import Course, CourseTag, CourseVersion, Policy, Role
from .permissions import Caller, require
from .publishing.edition import build_learner_edition
from .publishing.fetch import FetchLimits, GitCredentials, fetch
from .publishing.validate import load_course

SYSTEM = "mentorhub"  # who publishes the demo course at start-up


@dataclass(frozen=True)
class Published:
    slug: str
    version: int
    commit: str
    new: bool  # False: this commit was published before; nothing changed
    changes: list[RoleChange]

    def json(self) -> dict:
        return {
            "course": self.slug,
            "version": self.version,
            "commit": self.commit,
            "new": self.new,
        }


class Publisher:
    def __init__(
        self,
        db: Database,
        courses: CourseManager,
        editions_root: Path,
        limits: FetchLimits | None = None,
        credentials: dict[str, GitCredentials] | None = None,
    ) -> None:
        self.db = db
        self.courses = courses
        self.editions_root = Path(editions_root)
        self.editions_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.limits = limits or FetchLimits()
        self._credentials = credentials or {}

    def publish(
        self,
        caller: Caller,
        source: str,
        ref: str | None = None,
        *,
        shown_source: str | None = None,
    ) -> Published:
        """Fetch ``source`` at ``ref`` and publish it as the course its manifest names. Blocking."""
        with tempfile.TemporaryDirectory(dir=self.editions_root, prefix=".work-") as tmp:
            fetched = fetch(
                source,
                ref,
                Path(tmp) / "repo",
                limits=self.limits,
                credentials=self.credentials_for(source),
            )
            return self._publish_tree(
                caller, fetched.tree, fetched.commit, shown_source or source, Path(tmp)
            )

    def publish_directory(self, path: Path, roles: dict[str, Role]) -> Published:
        """Publish a trusted local directory (the demo course); its 'commit' is a hash of its files."""
        with tempfile.TemporaryDirectory(dir=self.editions_root, prefix=".work-") as tmp:
            published = self._publish_tree(None, Path(path), tree_hash(Path(path)), "", Path(tmp))
        changes = self.courses.seed_roles(published.slug, roles)
        return Published(
            published.slug,
            published.version,
            published.commit,
            published.new,
            published.changes + changes,
        )

    def credentials_for(self, source: str) -> GitCredentials | None:
        """The credentials configured for ``source``: same scheme and host, and a path under
        the configured one (whole segments), so a look-alike host never receives them."""
        url = urlsplit(source)
        for prefix, creds in self._credentials.items():
            allowed = urlsplit(prefix)
            base = allowed.path.rstrip("/") + "/"
            if (url.scheme, url.netloc) == (allowed.scheme, allowed.netloc) and (
                url.path + "/"
            ).startswith(base):
                return creds
        return None

    def _publish_tree(
        self, caller: Caller | None, tree: Path, commit: str, source: str, scratch: Path
    ) -> Published:
        course = load_course(tree)  # CourseInvalid lists every problem
        manifest = course.manifest
        slug = manifest.slug
        with self.db.transaction() as s:
            existing = s.scalar(select(Course).where(Course.slug == slug))
            if caller is not None:
                if existing is None:
                    require(caller, "course:create")
                else:
                    require(caller, "course:publish", role_in(s, existing.id, caller.name))
            if existing is not None:
                known = s.scalar(
                    select(CourseVersion).where(
                        CourseVersion.course_id == existing.id, CourseVersion.commit == commit
                    )
                )
                if known is not None:
                    return Published(slug, known.number, commit, False, [])

        final = self.editions_root / slug / commit
        if not final.exists():
            staging = scratch / "edition"
            edition = build_learner_edition(course, staging)
            final.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                os.replace(staging, final)
            except OSError:
                if not final.exists():
                    raise
                shutil.rmtree(
                    staging, ignore_errors=True
                )  # a concurrent publish of the same commit won
            files = dict(edition.files)
        else:
            files = read_hashes(final)
        outline = manifest.public()
        outline["files_sha256"] = files
        with self.db.transaction() as s:
            row = s.scalar(select(Course).where(Course.slug == slug))
            if row is None:
                row = Course(slug=slug, title=manifest.title)
                s.add(row)
                s.flush()
            row.title = manifest.title
            row.description = manifest.description
            row.level = manifest.level.value if manifest.level else ""
            row.enrolment_policy = Policy(manifest.enrolment.policy.value)
            row.capacity = manifest.enrolment.capacity
            row.mentoring_policy = manifest.mentoring.policy.value
            if source:
                row.source = source
            s.query(CourseTag).filter(CourseTag.course_id == row.id).delete()
            s.add_all(CourseTag(course_id=row.id, tag=t) for t in sorted(set(manifest.tags)))
            number = (
                s.scalar(
                    select(func.max(CourseVersion.number)).where(CourseVersion.course_id == row.id)
                )
                or 0
            ) + 1
            s.add(
                CourseVersion(
                    course_id=row.id,
                    number=number,
                    commit=commit,
                    published_by=caller.name if caller else SYSTEM,
                    edition=outline,
                )
            )
            row.current_version = number
            instructors = set(manifest.instructors) | ({caller.name} if caller else set())
            changes = [
                self.courses.apply_role(s, row, name, Role.instructor)
                for name in sorted(instructors)
                if role_in(s, row.id, name) != Role.instructor
            ]
        return Published(slug, number, commit, True, changes)

    def edition(self, caller: Caller, slug: str, number: int | None = None) -> dict:
        """The files of a version (default: the current one) for someone in the course."""
        with self.db.transaction() as s:
            version = self._readable_version(s, caller, slug, number)
            files = version.edition.get("files_sha256", {})
            return {
                "course": slug,
                "version": version.number,
                "published": version.published.isoformat(),
                "files": [{"path": p, "sha256": h} for p, h in sorted(files.items())],
            }

    def edition_file(self, caller: Caller, slug: str, number: int, path: str) -> Path:
        """One file of a version, for someone in the course; only paths the edition lists."""
        with self.db.transaction() as s:
            version = self._readable_version(s, caller, slug, number)
            if path not in version.edition.get("files_sha256", {}):
                raise FileNotFoundError(path)
            return self.editions_root / slug / version.commit / path

    def _readable_version(
        self, s: Session, caller: Caller, slug: str, number: int | None
    ) -> CourseVersion:
        course = find_course(s, slug)
        require(caller, "course:content:read", role_in(s, course.id, caller.name))
        version = s.scalar(
            select(CourseVersion).where(
                CourseVersion.course_id == course.id,
                CourseVersion.number == (number or course.current_version),
            )
        )
        if version is None:
            raise CourseNotFound(f"{slug} has no version {number}")
        return version


def read_hashes(edition_dir: Path) -> dict[str, str]:
    return json.loads((edition_dir / "edition.json").read_text())["files"]


def tree_hash(root: Path) -> str:
    """A commit-like id (40 hex) for a directory that is not a git repository."""
    h = hashlib.sha1()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        h.update(rel.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
