"""Courses and course roles: the service's own logic, no HTTP here."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .db import Database
from .orm import Course, CourseRole, CourseTag, CourseVersion, EnrolmentRequest, Role, utcnow
from .permissions import Caller, Forbidden, require


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


def public_course(course: Course, tags: list[str], role: Role | None, pending: bool) -> dict:
    """What anyone may see of a course; never its source repository or invite code."""
    seats = None if course.capacity is None else max(course.capacity - course.learners, 0)
    return {
        "slug": course.slug,
        "title": course.title,
        "description": course.description,
        "tags": tags,
        "level": course.level,
        "enrolment": {
            "policy": course.enrolment_policy.value,
            "capacity": course.capacity,
            "seats_left": seats,
        },
        "mentoring": course.mentoring_policy,
        "my_role": role.value if role else None,
        "pending": pending,
    }


def current_version(s: Session, course: Course) -> CourseVersion:
    return s.scalar(
        select(CourseVersion).where(
            CourseVersion.course_id == course.id, CourseVersion.number == course.current_version
        )
    )


def find_course(s: Session, slug: str) -> Course:
    course = s.scalar(select(Course).where(Course.slug == slug))
    if course is None:
        raise CourseNotFound(f"no course {slug!r}")
    return course


def role_in(s: Session, course_id: int, username: str) -> Role | None:
    return s.scalar(
        select(CourseRole.role).where(
            CourseRole.course_id == course_id, CourseRole.username == username
        )
    )


class CourseManager:
    def __init__(self, db: Database) -> None:
        self.db = db

    def roles_of(self, username: str) -> list[dict]:
        """Every course the user has a role in."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(Course.slug, Course.title, CourseRole.role)
                .join(CourseRole)
                .where(CourseRole.username == username)
                .order_by(Course.slug)
            )
            return [
                {"course": slug, "title": title, "role": role.value} for slug, title, role in rows
            ]

    def catalog(
        self,
        username: str,
        q: str = "",
        tags: list[str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> dict:
        """Published courses matching a text query and all the given tags, a page at a time."""
        with self.db.transaction() as s:
            query = select(Course).where(Course.current_version.is_not(None))
            if q:
                like = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
                query = query.where(
                    Course.title.ilike(like, escape="\\")
                    | Course.description.ilike(like, escape="\\")
                    | Course.slug.ilike(like, escape="\\")
                )
            for tag in tags or []:
                query = query.where(
                    Course.id.in_(select(CourseTag.course_id).where(CourseTag.tag == tag))
                )
            total = s.scalar(select(func.count()).select_from(query.subquery()))
            page = list(
                s.scalars(query.order_by(Course.title, Course.id).limit(limit).offset(offset))
            )
            ids = [c.id for c in page]
            tags_of: dict[int, list[str]] = {}
            for course_id, tag in s.execute(
                select(CourseTag.course_id, CourseTag.tag)
                .where(CourseTag.course_id.in_(ids))
                .order_by(CourseTag.tag)
            ):
                tags_of.setdefault(course_id, []).append(tag)
            mine = dict(
                s.execute(
                    select(CourseRole.course_id, CourseRole.role).where(
                        CourseRole.username == username, CourseRole.course_id.in_(ids)
                    )
                ).all()
            )
            pending = set(
                s.scalars(
                    select(EnrolmentRequest.course_id).where(
                        EnrolmentRequest.username == username, EnrolmentRequest.course_id.in_(ids)
                    )
                )
            )
            return {
                "total": total,
                "courses": [
                    public_course(c, tags_of.get(c.id, []), mine.get(c.id), c.id in pending)
                    for c in page
                ],
            }

    def detail(self, username: str, slug: str) -> dict:
        """A course page: the catalog entry and its current learner edition's outline."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            if course.current_version is None:
                raise CourseNotFound(f"no course {slug!r}")
            version = current_version(s, course)
            tags = list(
                s.scalars(
                    select(CourseTag.tag)
                    .where(CourseTag.course_id == course.id)
                    .order_by(CourseTag.tag)
                )
            )
            pending = (
                s.scalar(
                    select(EnrolmentRequest.id).where(
                        EnrolmentRequest.course_id == course.id,
                        EnrolmentRequest.username == username,
                    )
                )
                is not None
            )
            entry = public_course(course, tags, role_in(s, course.id, username), pending)
            outline = version.edition
            entry.update(
                version=version.number,
                published=version.published.isoformat(),
                lessons=outline.get("lessons", []),
                assignments=outline.get("assignments", []),
            )
            return entry

    def roster(self, caller: Caller, slug: str) -> dict:
        """Who is in the course, in which version they last synced, and when."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            require(caller, "course:members:read", role_in(s, course.id, caller.name))
            rows = s.scalars(
                select(CourseRole)
                .where(CourseRole.course_id == course.id)
                .order_by(CourseRole.username)
            )
            return {
                "course": slug,
                "current_version": course.current_version,
                "members": [
                    {
                        "username": r.username,
                        "role": r.role.value,
                        "synced_version": r.synced_version,
                        "synced_at": r.synced_at.isoformat() if r.synced_at else None,
                    }
                    for r in rows
                ],
            }

    def record_sync(self, caller: Caller, slug: str, version: int) -> None:
        with self.db.transaction() as s:
            course = find_course(s, slug)
            row = s.scalar(
                select(CourseRole).where(
                    CourseRole.course_id == course.id, CourseRole.username == caller.name
                )
            )
            if row is None:
                raise Forbidden(f"{caller.name} is not in {slug}")
            row.synced_version, row.synced_at = version, utcnow()

    def set_role(self, caller: Caller, slug: str, username: str, role: Role | None) -> RoleChange:
        """Give ``username`` a role in the course, or remove it (``role=None``)."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            require(caller, "course:members:write", role_in(s, course.id, caller.name))
            return self.apply_role(s, course, username, role)

    def seed_roles(self, slug: str, roles: dict[str, Role]) -> list[RoleChange]:
        """Give roles without asking anyone (service start-up: the demo accounts); idempotent."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            return [self.apply_role(s, course, user, role) for user, role in roles.items()]

    def apply_role(
        self, s: Session, course: Course, username: str, role: Role | None
    ) -> RoleChange:
        row = s.scalar(
            select(CourseRole).where(
                CourseRole.course_id == course.id, CourseRole.username == username
            )
        )
        old = row.role if row else None
        if role is None and row is not None:
            s.delete(row)
        elif role is not None and row is None:
            s.add(CourseRole(course_id=course.id, username=username, role=role))
        elif role is not None and row is not None:
            row.role = role
        seats = (role == Role.learner) - (old == Role.learner)
        if seats:  # instructors may seat learners beyond capacity; the count stays true
            course.learners = Course.learners + seats
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
