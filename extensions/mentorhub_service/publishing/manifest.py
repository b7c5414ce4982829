"""The course manifest, ``mentorhub.yaml``: parsed into frozen dataclasses, every problem listed.

The format is documented in ``courses/README.md``. Parsing never stops at the first problem:
a field that is wrong is reported and replaced by a placeholder so the rest of the manifest
(and the files it names) can still be checked; a manifest with problems is never handed out.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any

import yaml

MANIFEST = "mentorhub.yaml"
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
ASSIGNMENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@+-]{0,127}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a course: in which file, which cell (notebooks only), and what."""

    file: str
    cell: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}, {self.cell}" if self.cell else self.file
        return f"{where}: {self.message}"


class CourseInvalid(ValueError):
    """The course cannot be published; ``problems`` lists everything found wrong."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the course:\n{lines}")


class Level(StrEnum):
    BEGINNER = "beginner"
    INTERMEDIATE = "intermediate"
    ADVANCED = "advanced"


class EnrolmentPolicy(StrEnum):
    OPEN = "open"
    INVITE = "invite"
    APPROVAL = "approval"


class MentoringPolicy(StrEnum):
    ON_REQUEST = "on-request"
    ASSIGNED = "assigned"
    NONE = "none"


@dataclass(frozen=True)
class Enrolment:
    policy: EnrolmentPolicy = EnrolmentPolicy.OPEN
    capacity: int | None = None  # None: no limit


@dataclass(frozen=True)
class Mentoring:
    policy: MentoringPolicy = MentoringPolicy.ON_REQUEST


@dataclass(frozen=True)
class AssignmentSpec:
    """An nbgrader assignment: source notebooks in one directory, plus extra files from it."""

    name: str
    title: str
    due: datetime | None  # timezone-aware; None: no deadline
    points: float
    notebooks: tuple[str, ...]
    files: tuple[str, ...] = ()

    @property
    def directory(self) -> str:
        """The repository directory holding the source notebooks (nbgrader's source/<name>)."""
        return posixpath.dirname(self.notebooks[0]) if self.notebooks else ""

    def release_path(self, path: str) -> str:
        """Where a file of this assignment goes in the learner edition."""
        return f"assignments/{self.name}/{posixpath.relpath(path, self.directory or '.')}"


@dataclass(frozen=True)
class CourseManifest:
    slug: str
    title: str
    description: str = ""
    tags: tuple[str, ...] = ()
    level: Level | None = None
    instructors: tuple[str, ...] = ()
    enrolment: Enrolment = Enrolment()
    mentoring: Mentoring = Mentoring()
    lessons: tuple[str, ...] = ()
    assignments: tuple[AssignmentSpec, ...] = ()
    files: tuple[str, ...] = ()

    def public(self) -> dict[str, Any]:
        """What learners may know about the course, with assignment paths as released."""
        return {
            "slug": self.slug,
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "level": self.level.value if self.level else None,
            "instructors": list(self.instructors),
            "enrolment": {
                "policy": self.enrolment.policy.value,
                "capacity": self.enrolment.capacity,
            },
            "mentoring": {"policy": self.mentoring.policy.value},
            "lessons": list(self.lessons),
            "files": list(self.files),
            "assignments": [
                {
                    "name": a.name,
                    "title": a.title,
                    "due": a.due.astimezone(UTC).isoformat().replace("+00:00", "Z")
                    if a.due
                    else None,
                    "points": a.points,
                    "notebooks": [a.release_path(p) for p in a.notebooks],
                    "files": [a.release_path(p) for p in a.files],
                }
                for a in self.assignments
            ],
        }


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys instead of keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Reader:
    """Reads typed fields out of plain YAML data, recording a Problem for each bad one."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(Problem(MANIFEST, None, f"{where}: {message}" if where else message))

    def mapping(self, data: Any, where: str, known: set[str], required: set[str]) -> dict:
        if not isinstance(data, dict):
            self.problem(where, f"must be a mapping, not {_kind(data)}")
            return {}
        for key in data:
            if key not in known:
                close = difflib.get_close_matches(str(key), sorted(known), n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                self.problem(_join(where, key), f"unknown key{hint}")
        for key in sorted(required - set(data)):
            self.problem(_join(where, key), "missing")
        return data

    def string(self, data: dict, key: str, where: str, pattern: re.Pattern | None = None) -> str:
        value = data.get(key, "")
        if not isinstance(value, str):
            self.problem(_join(where, key), f"must be a string, not {_kind(value)}")
            return ""
        if pattern is not None and key in data and not pattern.match(value):
            self.problem(_join(where, key), f"{value!r} does not match {pattern.pattern}")
        return value

    def strings(
        self, data: dict, key: str, where: str, check: Callable[[str, str], bool] | None = None
    ) -> tuple[str, ...]:
        """A list of distinct non-empty strings; entries failing ``check`` are left out."""
        value = data.get(key, [])
        if not isinstance(value, list):
            self.problem(_join(where, key), f"must be a list, not {_kind(value)}")
            return ()
        out: list[str] = []
        for i, item in enumerate(value):
            at = f"{_join(where, key)}[{i}]"
            if not isinstance(item, str) or not item:
                self.problem(at, f"must be a non-empty string, not {_kind(item)}")
            elif item in out:
                self.problem(at, f"{item!r} is listed twice")
            elif check is None or check(at, item):
                out.append(item)
        return tuple(out)

    def choice(self, data: dict, key: str, where: str, enum: type[StrEnum], default: Any) -> Any:
        if key not in data:
            return default
        try:
            return enum(data[key])
        except ValueError:
            allowed = " | ".join(e.value for e in enum)
            self.problem(_join(where, key), f"{data[key]!r} is not one of {allowed}")
            return default

    def path(self, where: str, path: str) -> bool:
        """Paths are relative, '/'-separated and stay inside the repository."""
        parts = path.split("/")
        if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in parts):
            self.problem(where, f"{path!r} must be a relative path inside the repository")
            return False
        return True

    def username(self, where: str, name: str) -> bool:
        if not USERNAME.match(name):
            self.problem(where, f"{name!r} is not a hub username ({USERNAME.pattern})")
            return False
        return True

    def tag(self, where: str, tag: str) -> bool:
        if len(tag) > 40 or tag != tag.strip():
            self.problem(where, f"{tag!r} must be at most 40 characters, without outer spaces")
            return False
        return True


def _join(where: str, key: Any) -> str:
    return f"{where}.{key}" if where else str(key)


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def read_manifest(text: str) -> tuple[CourseManifest | None, list[Problem]]:
    """Parse a manifest, returning a best-effort manifest and every problem found.

    The manifest is None only when the text is not a YAML mapping at all.
    """
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except RecursionError:
        return None, [Problem(MANIFEST, None, "not valid YAML: nested too deeply")]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        return None, [Problem(MANIFEST, None, f"not valid YAML{at}: {problem}")]
    r = _Reader()
    if not isinstance(data, dict):
        r.problem("", f"must be a YAML mapping, not {_kind(data)}")
        return None, r.problems
    known = {"slug", "title", "description", "tags", "level", "instructors"}
    known |= {"enrolment", "mentoring", "lessons", "assignments", "files"}
    r.mapping(data, "", known, {"slug", "title"})
    title = r.string(data, "title", "")
    if "title" in data and not title.strip():
        r.problem("title", "must not be empty")
    manifest = CourseManifest(
        slug=r.string(data, "slug", "", SLUG),
        title=title,
        description=r.string(data, "description", "")
        if data.get("description") is not None
        else "",
        tags=r.strings(data, "tags", "", r.tag),
        level=r.choice(data, "level", "", Level, None),
        instructors=r.strings(data, "instructors", "", r.username),
        enrolment=_enrolment(r, data.get("enrolment", {})),
        mentoring=_mentoring(r, data.get("mentoring", {})),
        lessons=r.strings(data, "lessons", "", r.path),
        assignments=_assignments(r, data.get("assignments", [])),
        files=r.strings(data, "files", "", r.path),
    )
    return manifest, r.problems


def parse_manifest(text: str) -> CourseManifest:
    """The manifest, or CourseInvalid listing every problem in it."""
    manifest, problems = read_manifest(text)
    if problems or manifest is None:
        raise CourseInvalid(problems)
    return manifest


def _enrolment(r: _Reader, data: Any) -> Enrolment:
    data = r.mapping(data, "enrolment", {"policy", "capacity"}, set())
    capacity = data.get("capacity")
    if capacity is not None and (type(capacity) is not int or capacity < 1):
        r.problem("enrolment.capacity", f"must be null or a positive integer, not {capacity!r}")
        capacity = None
    policy = r.choice(data, "policy", "enrolment", EnrolmentPolicy, EnrolmentPolicy.OPEN)
    return Enrolment(policy=policy, capacity=capacity)


def _mentoring(r: _Reader, data: Any) -> Mentoring:
    data = r.mapping(data, "mentoring", {"policy"}, set())
    policy = r.choice(data, "policy", "mentoring", MentoringPolicy, MentoringPolicy.ON_REQUEST)
    return Mentoring(policy=policy)


def _assignments(r: _Reader, data: Any) -> tuple[AssignmentSpec, ...]:
    if not isinstance(data, list):
        r.problem("assignments", f"must be a list, not {_kind(data)}")
        return ()
    known = {"name", "title", "due", "points", "notebooks", "files"}
    out: list[AssignmentSpec] = []
    for i, item in enumerate(data):
        where = f"assignments[{i}]"
        item = r.mapping(item, where, known, {"name", "points", "notebooks"})
        name = r.string(item, "name", where, ASSIGNMENT_NAME)
        if name and name in {a.name for a in out}:
            r.problem(f"{where}.name", f"{name!r} is used by another assignment")
        title = r.string(item, "title", where) if "title" in item else name
        notebooks, files = _assignment_layout(
            r,
            r.strings(item, "notebooks", where, r.path),
            r.strings(item, "files", where, r.path),
            where,
        )
        spec = AssignmentSpec(
            name=name,
            title=title,
            due=_due(r, item.get("due"), f"{where}.due"),
            points=_points(r, item, f"{where}.points"),
            notebooks=notebooks,
            files=files,
        )
        if item.get("notebooks") == []:
            r.problem(f"{where}.notebooks", "must list at least one notebook")
        out.append(spec)
    return tuple(out)


def _due(r: _Reader, value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            r.problem(where, f"{value!r} is not an ISO 8601 date and time")
            return None
    if not isinstance(value, datetime):
        shown = value.isoformat() if isinstance(value, date) else repr(value)
        r.problem(
            where, f"{shown} must be a date and time with a timezone, e.g. 2026-12-15T23:59:00Z"
        )
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        r.problem(where, f"{value.isoformat()} has no timezone; add one, e.g. Z for UTC")
        return None
    return value


def _points(r: _Reader, item: dict, where: str) -> float:
    value = item.get("points", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        if "points" in item:
            r.problem(where, f"must be a positive number, not {value!r}")
        return 0
    return value


def _assignment_layout(
    r: _Reader, notebooks: tuple[str, ...], files: tuple[str, ...], where: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """nbgrader's layout: an assignment is one directory of notebooks plus other files from
    it. Returns the notebooks and files that fit it."""
    kept: list[str] = []
    for path in notebooks:
        directory = posixpath.dirname(kept[0]) if kept else posixpath.dirname(path)
        if not path.endswith(".ipynb"):
            r.problem(f"{where}.notebooks", f"{path!r} is not a notebook (.ipynb)")
        elif posixpath.dirname(path) != directory:
            r.problem(
                f"{where}.notebooks",
                f"{path!r} is not in {directory or 'the root'!r}, the directory of the "
                "assignment's first notebook (nbgrader's layout)",
            )
        else:
            kept.append(path)
    directory = posixpath.dirname(kept[0]) if kept else ""
    kept_files: list[str] = []
    for path in files:
        if path.endswith(".ipynb"):
            r.problem(f"{where}.files", f"{path!r} is a notebook; list it under notebooks")
        elif directory and not path.startswith(directory + "/"):
            r.problem(f"{where}.files", f"{path!r} is not under the assignment's directory")
        else:
            kept_files.append(path)
    return tuple(kept), tuple(kept_files)
