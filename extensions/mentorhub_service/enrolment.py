"""Joining and leaving courses under their enrolment policy.

Seats are counted in ``courses.learners`` and taken by one conditional UPDATE, the first
statement of its transaction: two learners racing for the last seat cannot both get it,
on SQLite (writers queue on the database lock) as on PostgreSQL (the row lock).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select, update

from .courses import CourseNotFound, InvalidRequest, RoleChange, find_course, role_in
from .db import Database
from .orm import Course, CourseRole, EnrolmentRequest, Policy, Role
from .permissions import Caller, require


class CourseFull(Exception):
    pass


class AlreadyEnrolled(Exception):
    pass


class WrongInviteCode(Exception):
    pass


@dataclass(frozen=True)
class Enrolment:
    status: str  # "enrolled" | "pending"
    change: RoleChange | None = None


def hash_code(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


class EnrolmentManager:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enrol(self, caller: Caller, slug: str, code: str | None = None) -> Enrolment:
        """Join as a learner: at once (open, or invite with the right code) or by request (approval)."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            if course.enrolment_policy == Policy.invite and not (
                code
                and course.invite_code_hash
                and hmac.compare_digest(hash_code(code), course.invite_code_hash)
            ):
                raise WrongInviteCode("this course needs a valid invite code")
            if role_in(s, course.id, caller.name) is not None:
                raise AlreadyEnrolled(f"{caller.name} is already in {slug}")
            if course.enrolment_policy == Policy.approval:
                if s.scalar(self._request(course.id, caller.name)) is None:
                    s.add(EnrolmentRequest(course_id=course.id, username=caller.name))
                return Enrolment("pending")
        return Enrolment("enrolled", self._take_seat(slug, caller.name))

    def _take_seat(self, slug: str, username: str) -> RoleChange:
        with self.db.transaction() as s:
            taken = s.execute(
                update(Course)
                .where(Course.slug == slug)
                .where((Course.capacity.is_(None)) | (Course.learners < Course.capacity))
                .values(learners=Course.learners + 1)
            ).rowcount
            course = find_course(s, slug)
            if not taken:
                raise CourseFull(f"{slug} is full ({course.capacity} learners)")
            if role_in(s, course.id, username) is not None:
                raise AlreadyEnrolled(f"{username} is already in {slug}")  # rolls the seat back
            s.add(CourseRole(course_id=course.id, username=username, role=Role.learner))
            s.execute(
                delete(EnrolmentRequest).where(
                    EnrolmentRequest.course_id == course.id, EnrolmentRequest.username == username
                )
            )
            return RoleChange(slug, username, None, Role.learner)

    def leave(self, caller: Caller, slug: str) -> RoleChange:
        """Leave a course (or withdraw a pending request). Instructors cannot leave this way."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            row = s.scalar(
                select(CourseRole).where(
                    CourseRole.course_id == course.id, CourseRole.username == caller.name
                )
            )
            s.execute(
                delete(EnrolmentRequest).where(
                    EnrolmentRequest.course_id == course.id,
                    EnrolmentRequest.username == caller.name,
                )
            )
            if row is None:
                return RoleChange(slug, caller.name, None, None)
            if row.role == Role.instructor:
                raise InvalidRequest(
                    "an instructor leaves by handing the course to another instructor"
                )
            if row.role == Role.learner:
                course.learners = Course.learners - 1
            s.delete(row)
            return RoleChange(slug, caller.name, row.role, None)

    def requests(self, caller: Caller, slug: str) -> list[dict]:
        with self.db.transaction() as s:
            course = find_course(s, slug)
            require(caller, "course:members:read", role_in(s, course.id, caller.name))
            rows = s.scalars(
                select(EnrolmentRequest)
                .where(EnrolmentRequest.course_id == course.id)
                .order_by(EnrolmentRequest.created)
            )
            return [{"username": r.username, "created": r.created.isoformat()} for r in rows]

    def approve(self, caller: Caller, slug: str, username: str) -> RoleChange:
        """Admit a pending request; capacity still holds."""
        with self.db.transaction() as s:
            course = find_course(s, slug)
            require(caller, "course:members:write", role_in(s, course.id, caller.name))
            if s.scalar(self._request(course.id, username)) is None:
                raise CourseNotFound(f"{username} has not asked to join {slug}")
        return self._take_seat(slug, username)

    def new_invite_code(self, caller: Caller, slug: str) -> str:
        """Make (or replace) the course's invite code; only its hash is kept."""
        code = secrets.token_urlsafe(8)
        with self.db.transaction() as s:
            course = find_course(s, slug)
            require(caller, "course:members:write", role_in(s, course.id, caller.name))
            course.invite_code_hash = hash_code(code)
        return code

    @staticmethod
    def _request(course_id: int, username: str):
        return select(EnrolmentRequest.id).where(
            EnrolmentRequest.course_id == course_id, EnrolmentRequest.username == username
        )
