"""The service's schema and managers, on SQLite and on PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from mentorhub_service.courses import CourseManager, CourseNotFound, InvalidRequest, hub_group
from mentorhub_service.db import Database, make_engine, upgrade
from mentorhub_service.orm import Base, Role
from mentorhub_service.permissions import PUBLISH_SCOPE, Caller, Forbidden
from sqlalchemy import inspect
from sqlalchemy.exc import IntegrityError

INSTRUCTOR = Caller("ada", frozenset({PUBLISH_SCOPE}))
LEARNER = Caller("lin")


@pytest.fixture
def mh_courses(mh_db_url: str) -> CourseManager:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    yield CourseManager(Database(engine))
    engine.dispose()


def test_migrations_build_exactly_the_models(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "ix_course_roles_username" in {i["name"] for i in inspect(engine).get_indexes("course_roles")}
    engine.dispose()


def test_upgrade_twice_is_a_no_op_and_keeps_data(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    courses = CourseManager(Database(engine))
    courses.create(INSTRUCTOR, "algebra", "Algebra")
    upgrade(engine)
    assert [c["slug"] for c in courses.catalog()] == ["algebra"]
    engine.dispose()


def test_downgrade_to_base_removes_every_table(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    upgrade_down(engine)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def upgrade_down(engine) -> None:
    from alembic import command
    from alembic.config import Config
    from mentorhub_service.db import MIGRATIONS

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")


def test_creator_becomes_instructor(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra", "Numbers and letters")
    assert mh_courses.roles_of("ada") == [{"course": "algebra", "title": "Algebra", "role": "instructor"}]


def test_creating_a_course_needs_the_publish_scope(mh_courses: CourseManager) -> None:
    with pytest.raises(Forbidden):
        mh_courses.create(LEARNER, "algebra", "Algebra")
    assert mh_courses.catalog() == []


@pytest.mark.parametrize("slug", ["", "Algebra", "../etc", "a" * 80, "-x", "a b"])
def test_bad_course_slug_is_refused(mh_courses: CourseManager, slug: str) -> None:
    with pytest.raises(InvalidRequest):
        mh_courses.create(INSTRUCTOR, slug, "T")


def test_duplicate_course_is_refused_and_keeps_the_first(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra")
    with pytest.raises(InvalidRequest):
        mh_courses.create(INSTRUCTOR, "algebra", "Other")
    assert mh_courses.catalog()[0]["title"] == "Algebra"


def test_learner_cannot_read_or_change_members(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra")
    mh_courses.set_role(INSTRUCTOR, "algebra", "lin", Role.learner)
    with pytest.raises(Forbidden):
        mh_courses.members(LEARNER, "algebra")
    with pytest.raises(Forbidden):
        mh_courses.set_role(LEARNER, "algebra", "lin", Role.instructor)
    assert mh_courses.roles_of("lin")[0]["role"] == "learner"


def test_mentor_reads_members_but_cannot_change_them(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra")
    mh_courses.set_role(INSTRUCTOR, "algebra", "mo", Role.mentor)
    mentor = Caller("mo")
    assert {m["username"] for m in mh_courses.members(mentor, "algebra")} == {"ada", "mo"}
    with pytest.raises(Forbidden):
        mh_courses.set_role(mentor, "algebra", "lin", Role.learner)


def test_role_change_reports_old_and_new_role(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra")
    first = mh_courses.set_role(INSTRUCTOR, "algebra", "lin", Role.learner)
    second = mh_courses.set_role(INSTRUCTOR, "algebra", "lin", Role.mentor)
    gone = mh_courses.set_role(INSTRUCTOR, "algebra", "lin", None)
    assert (first.old, first.new) == (None, Role.learner)
    assert (second.old, second.new) == (Role.learner, Role.mentor)
    assert (gone.old, gone.new) == (Role.mentor, None)
    assert mh_courses.roles_of("lin") == []


def test_unknown_course_is_not_found(mh_courses: CourseManager) -> None:
    with pytest.raises(CourseNotFound):
        mh_courses.members(INSTRUCTOR, "nope")


def test_seed_is_idempotent_and_mirrors_into_groups(mh_courses: CourseManager) -> None:
    roles = {"ada": Role.instructor, "lin": Role.learner}
    mh_courses.seed("demo", "Demo", "", roles)
    mh_courses.seed("demo", "Demo v2", "", roles)
    assert [c["title"] for c in mh_courses.catalog()] == ["Demo v2"]
    assert mh_courses.all_memberships() == {
        hub_group("demo", Role.instructor): ["ada"],
        hub_group("demo", Role.learner): ["lin"],
    }


def test_concurrent_enrolments_of_one_user_leave_one_role(mh_courses: CourseManager) -> None:
    mh_courses.create(INSTRUCTOR, "algebra", "Algebra")

    def enrol(role: Role) -> str:
        try:
            mh_courses.set_role(INSTRUCTOR, "algebra", "lin", role)
            return "ok"
        except IntegrityError:
            return "conflict"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(enrol, [Role.learner, Role.mentor] * 8))
    assert "ok" in results
    roles = mh_courses.roles_of("lin")
    assert len(roles) == 1 and roles[0]["role"] in {"learner", "mentor"}
