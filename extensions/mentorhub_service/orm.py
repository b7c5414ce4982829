"""Database rows. Behaviour lives in the managers (courses.py), not here.

Glossary:
- course: a published notebook course, named by its ``slug``.
- course role: what one user is in one course: learner, mentor or instructor.
- version: one published commit of a course's repository; its learner edition is on disk.
- learner edition: what learners get of a version (lessons, assignments without solutions).
- enrolment request: a learner asking to join a course whose policy is approval.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import JSON, DateTime, Enum, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    learner = "learner"
    mentor = "mentor"
    instructor = "instructor"


class Policy(enum.StrEnum):
    open = "open"
    invite = "invite"
    approval = "approval"


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level: Mapped[str] = mapped_column(String(32), default="")
    enrolment_policy: Mapped[Policy] = mapped_column(
        Enum(Policy, name="enrolment_policy", native_enum=False, length=16), default=Policy.open
    )
    capacity: Mapped[int | None] = mapped_column(Integer, default=None)
    # learners holding a seat; changed only by conditional UPDATEs, so capacity holds under races
    learners: Mapped[int] = mapped_column(Integer, default=0)
    # sha256 of the invite code; the code itself is shown to instructors once
    invite_code_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    mentoring_policy: Mapped[str] = mapped_column(String(32), default="on-request")
    # where the instructor publishes from; may name a private repository: never shown to learners
    source: Mapped[str] = mapped_column(Text, default="")
    current_version: Mapped[int | None] = mapped_column(Integer, default=None)

    roles: Mapped[list[CourseRole]] = relationship(
        back_populates="course", cascade="all, delete-orphan"
    )
    tags: Mapped[list[CourseTag]] = relationship(cascade="all, delete-orphan")
    versions: Mapped[list[CourseVersion]] = relationship(cascade="all, delete-orphan")


class CourseTag(Base):
    __tablename__ = "course_tags"
    __table_args__ = (UniqueConstraint("course_id", "tag", name="uq_course_tags_course_tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    tag: Mapped[str] = mapped_column(String(64), index=True)


class CourseVersion(Base):
    __tablename__ = "course_versions"
    __table_args__ = (
        UniqueConstraint("course_id", "number", name="uq_course_versions_number"),
        UniqueConstraint("course_id", "commit", name="uq_course_versions_commit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    commit: Mapped[str] = mapped_column(String(40))
    published_by: Mapped[str] = mapped_column(String(255))
    published: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # the learner edition's public description: title, lessons, assignments, files and hashes
    edition: Mapped[dict] = mapped_column(JSON)


class EnrolmentRequest(Base):
    __tablename__ = "enrolment_requests"
    __table_args__ = (
        UniqueConstraint("course_id", "username", name="uq_enrolment_requests_course_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"), index=True)
    username: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class CourseRole(Base):
    __tablename__ = "course_roles"
    __table_args__ = (
        UniqueConstraint("course_id", "username", name="uq_course_roles_course_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # JupyterHub is the source of identity; the service keys users by their hub name
    username: Mapped[str] = mapped_column(String(255), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="course_role", native_enum=False, length=16))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # what the user's server last reported syncing: version number and when
    synced_version: Mapped[int | None] = mapped_column(Integer, default=None)
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), default=None)

    course: Mapped[Course] = relationship(back_populates="roles")
