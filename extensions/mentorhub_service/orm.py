"""Database rows. Behaviour lives in the managers (courses.py), not here.

Glossary:
- course: a published notebook course, named by its ``slug``.
- course role: what one user is in one course: learner, mentor or instructor.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime

from sqlalchemy import DateTime, Enum, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    learner = "learner"
    mentor = "mentor"
    instructor = "instructor"


class Course(Base):
    __tablename__ = "courses"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    roles: Mapped[list[CourseRole]] = relationship(back_populates="course", cascade="all, delete-orphan")


class CourseRole(Base):
    __tablename__ = "course_roles"
    __table_args__ = (UniqueConstraint("course_id", "username", name="uq_course_roles_course_user"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    course_id: Mapped[int] = mapped_column(ForeignKey("courses.id", ondelete="CASCADE"))
    # JupyterHub is the source of identity; the service keys users by their hub name
    username: Mapped[str] = mapped_column(String(255), index=True)
    role: Mapped[Role] = mapped_column(Enum(Role, name="course_role", native_enum=False, length=16))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    course: Mapped[Course] = relationship(back_populates="roles")
