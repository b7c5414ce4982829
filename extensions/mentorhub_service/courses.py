"""Courses and course roles: the service's own logic, no HTTP here."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from .db import Database
from .orm import Course, CourseRole, Role
from .permissions import Caller, require

SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class CourseNotFound(LookupError):
    pass


class InvalidRequest(ValueError):
    pass


@dataclass(frozen=True)
class RoleChange:
    """A role that changed, for mirroring into hub groups."""

    course: str
    username: str
    old: Role | None
    new: Role | None


def hub_group(slug: str, role: Role) -> str:
    """The JupyterHub group that mirrors one role in one course."""
    return f"course-{slug}-{role.value}s"


class CourseManager:
    def __init__(self, db: Database) -> None:
        self.db = db

    def _course(self, s: Session, slug: str) -> Course:
        course = s.scalar(select(Course).where(Course.slug == slug))
        if course is None:
            raise CourseNotFound(f"no course {slug!r}")
        return course

    def _role(self, s: Session, course: Course, username: str) -> Role | None:
        return s.scalar(
            select(CourseRole.role).where(CourseRole.course_id == course.id, CourseRole.username == username)
        )

    def roles_of(self, username: str) -> list[dict]:
        """Every course the user has a role in."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(Course.slug, Course.title, CourseRole.role)
                .join(CourseRole)
                .where(CourseRole.username == username)
                .order_by(Course.slug)
            )
            return [{"course": slug, "title": title, "role": role.value} for slug, title, role in rows]

    def catalog(self) -> list[dict]:
        with self.db.transaction() as s:
            courses = s.scalars(select(Course).order_by(Course.slug))
            return [{"slug": c.slug, "title": c.title, "description": c.description} for c in courses]

    def members(self, caller: Caller, slug: str) -> list[dict]:
        with self.db.transaction() as s:
            course = self._course(s, slug)
            require(caller, "course:members:read", self._role(s, course, caller.name))
            rows = s.scalars(select(CourseRole).where(CourseRole.course_id == course.id).order_by(CourseRole.username))
            return [{"username": r.username, "role": r.role.value} for r in rows]

    def create(self, caller: Caller, slug: str, title: str, description: str = "") -> dict:
        """Create a course; its creator becomes its instructor."""
        require(caller, "course:create")
        if not SLUG.match(slug):
            raise InvalidRequest(f"course slug {slug!r} must be lowercase letters, digits and dashes")
        with self.db.transaction() as s:
            if s.scalar(select(Course.id).where(Course.slug == slug)) is not None:
                raise InvalidRequest(f"course {slug!r} exists already")
            course = Course(slug=slug, title=title, description=description)
            course.roles.append(CourseRole(username=caller.name, role=Role.instructor))
            s.add(course)
        return {"slug": slug, "title": title, "description": description}

    def set_role(self, caller: Caller, slug: str, username: str, role: Role | None) -> RoleChange:
        """Give ``username`` a role in the course, or remove it (``role=None``)."""
        with self.db.transaction() as s:
            course = self._course(s, slug)
            require(caller, "course:members:write", self._role(s, course, caller.name))
            return self._apply_role(s, course, username, role)

    def seed(self, slug: str, title: str, description: str, roles: dict[str, Role]) -> list[RoleChange]:
        """Publish a course and give roles, trusted (service start-up only); idempotent."""
        with self.db.transaction() as s:
            course = s.scalar(select(Course).where(Course.slug == slug))
            if course is None:
                course = Course(slug=slug, title=title, description=description)
                s.add(course)
                s.flush()
            else:
                course.title, course.description = title, description
            return [self._apply_role(s, course, user, role) for user, role in roles.items()]

    def _apply_role(self, s: Session, course: Course, username: str, role: Role | None) -> RoleChange:
        row = s.scalar(select(CourseRole).where(CourseRole.course_id == course.id, CourseRole.username == username))
        old = row.role if row else None
        if role is None and row is not None:
            s.delete(row)
        elif role is not None and row is None:
            s.add(CourseRole(course_id=course.id, username=username, role=role))
        elif role is not None and row is not None:
            row.role = role
        return RoleChange(course.slug, username, old, role)

    def all_memberships(self) -> dict[str, list[str]]:
        """Hub group name -> members, for a full resync of the mirror."""
        groups: dict[str, list[str]] = {}
        with self.db.transaction() as s:
            for slug, username, role in s.execute(
                select(Course.slug, CourseRole.username, CourseRole.role).join(CourseRole)
            ):
                groups.setdefault(hub_group(slug, role), []).append(username)
        return groups
