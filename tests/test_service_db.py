"""The service's schema and managers, on SQLite and on PostgreSQL, with real git repositories."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from conftest import git
from gitserver import serve_git
from mentorhub_service.courses import CourseManager, CourseNotFound, hub_group
from mentorhub_service.db import MIGRATIONS, Database, make_engine, upgrade
from mentorhub_service.enrolment import (
    AlreadyEnrolled,
    CourseFull,
    EnrolmentManager,
    WrongInviteCode,
)
from mentorhub_service.orm import Base, Role
from mentorhub_service.permissions import PUBLISH_SCOPE, Caller, Forbidden
from mentorhub_service.publisher import Publisher
from mentorhub_service.publishing.fetch import FetchError, GitCredentials
from mentorhub_service.publishing.manifest import CourseInvalid
from sqlalchemy import inspect

ADA = Caller("ada", frozenset({PUBLISH_SCOPE}))  # may publish
GRACE = Caller("grace", frozenset({PUBLISH_SCOPE}))  # may publish, not in ada's courses
LIN, MO, SAM = Caller("lin"), Caller("mo"), Caller("sam")


@dataclass
class Service:
    courses: CourseManager
    enrolment: EnrolmentManager
    publisher: Publisher
    editions: Path


@pytest.fixture
def mh_service(mh_db_url: str, tmp_path: Path) -> Service:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    db = Database(engine)
    courses = CourseManager(db)
    yield Service(
        courses,
        EnrolmentManager(db),
        Publisher(db, courses, tmp_path / "editions"),
        tmp_path / "editions",
    )
    engine.dispose()


@pytest.fixture
def mh_published(mh_service: Service, mh_course_repo):
    """Factory: publish a variant of the demo course as ada; returns its slug."""

    def publish(slug: str, **manifest) -> str:
        mh_service.publisher.publish(ADA, str(mh_course_repo(slug, **manifest)))
        return slug

    return publish


def test_migrations_build_exactly_the_models(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []
    assert "ix_course_roles_username" in {
        i["name"] for i in inspect(engine).get_indexes("course_roles")
    }
    assert "ix_course_tags_tag" in {i["name"] for i in inspect(engine).get_indexes("course_tags")}
    engine.dispose()


def test_downgrade_to_base_removes_every_table_and_upgrade_restores_them(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert {"courses", "course_versions", "enrolment_requests"} <= set(
        inspect(engine).get_table_names()
    )
    engine.dispose()


def test_upgrade_from_0001_counts_seats_of_learners_enrolled_before(mh_db_url: str) -> None:
    engine = make_engine(mh_db_url)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO courses (id, slug, title, description, created) VALUES (1, 'old', 'Old', '', CURRENT_TIMESTAMP)"
        )
        conn.exec_driver_sql(
            "INSERT INTO course_roles (course_id, username, role, created) VALUES "
            "(1, 'lin', 'learner', CURRENT_TIMESTAMP), (1, 'mo', 'mentor', CURRENT_TIMESTAMP)"
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT learners FROM courses").scalar() == 1
    engine.dispose()


def test_publisher_becomes_instructor_of_version_1(mh_service: Service, mh_published) -> None:
    mh_published("algebra")
    assert mh_service.courses.roles_of("ada") == [
        {"course": "algebra", "title": "Introduction to Python", "role": "instructor"}
    ]
    assert mh_service.courses.detail("lin", "algebra")["version"] == 1


def test_republishing_the_same_commit_changes_nothing(mh_service: Service, mh_course_repo) -> None:
    repo = mh_course_repo("algebra")
    first = mh_service.publisher.publish(ADA, str(repo))
    again = mh_service.publisher.publish(ADA, str(repo))
    assert (first.new, again.new) == (True, False)
    assert again.version == first.version == 1


def test_new_commit_is_a_new_version_and_the_previous_stays_readable(
    mh_service: Service, mh_course_repo
) -> None:
    repo = mh_course_repo("algebra")
    mh_service.publisher.publish(ADA, str(repo))
    (repo / "cheatsheet.md").write_text("# Cheatsheet, second edition\n")
    git(repo, "commit", "-qam", "second")
    published = mh_service.publisher.publish(ADA, str(repo))
    assert published.version == 2
    mh_service.enrolment.enrol(LIN, "algebra")
    old = mh_service.publisher.edition(LIN, "algebra", 1)
    new = mh_service.publisher.edition(LIN, "algebra")
    assert (old["version"], new["version"]) == (1, 2)
    cheats = {f["path"]: f["sha256"] for f in old["files"]}["cheatsheet.md"]
    assert cheats != {f["path"]: f["sha256"] for f in new["files"]}["cheatsheet.md"]
    assert (
        mh_service.publisher.edition_file(LIN, "algebra", 1, "cheatsheet.md").read_text()
        != "# Cheatsheet, second edition\n"
    )


def test_publishing_needs_the_publish_scope(mh_service: Service, mh_course_repo) -> None:
    with pytest.raises(Forbidden):
        mh_service.publisher.publish(LIN, str(mh_course_repo("algebra")))
    assert mh_service.courses.catalog("lin")["total"] == 0


def test_only_the_courses_instructors_publish_new_versions(
    mh_service: Service, mh_course_repo
) -> None:
    repo = mh_course_repo("algebra")
    mh_service.publisher.publish(ADA, str(repo))
    (repo / "cheatsheet.md").write_text("taken over\n")
    git(repo, "commit", "-qam", "hostile takeover")
    with pytest.raises(Forbidden):
        mh_service.publisher.publish(GRACE, str(repo))
    assert mh_service.courses.detail("lin", "algebra")["version"] == 1


def test_invalid_course_is_refused_whole_and_leaves_nothing(
    mh_service: Service, mh_course_repo
) -> None:
    repo = mh_course_repo("broken")
    (repo / "lessons" / "02-decisions.ipynb").write_text("{ not json")
    git(repo, "commit", "-qam", "break it")
    with pytest.raises(CourseInvalid) as refused:
        mh_service.publisher.publish(ADA, str(repo))
    assert any(p.file == "lessons/02-decisions.ipynb" for p in refused.value.problems)
    assert mh_service.courses.catalog("ada")["total"] == 0
    assert list(mh_service.editions.iterdir()) == []


def test_catalog_searches_text_and_filters_by_tag(mh_service: Service, mh_published) -> None:
    mh_published("algebra", title="Algebra for everyone", tags=["math"])
    mh_published(
        "stats",
        title="Statistics",
        description="Means, medians and 100% fun",
        tags=["math", "data"],
    )
    mh_published("poetry", title="Poetry", tags=["writing"])
    catalog = mh_service.courses.catalog
    assert [c["slug"] for c in catalog("lin", q="ALGEBRA")["courses"]] == ["algebra"]
    assert [c["slug"] for c in catalog("lin", q="100%")["courses"]] == ["stats"]
    assert [c["slug"] for c in catalog("lin", q="_")["courses"]] == []  # LIKE wildcards are literal
    assert [c["slug"] for c in catalog("lin", tags=["math"])["courses"]] == ["algebra", "stats"]
    assert [c["slug"] for c in catalog("lin", tags=["math", "data"])["courses"]] == ["stats"]
    page = catalog("lin", limit=2)
    assert page["total"] == 3 and len(page["courses"]) == 2


def test_catalog_never_shows_the_source_repository(mh_service: Service, mh_course_repo) -> None:
    repo = mh_course_repo("algebra")
    mh_service.publisher.publish(ADA, str(repo))
    text = repr(mh_service.courses.catalog("lin")) + repr(
        mh_service.courses.detail("lin", "algebra")
    )
    assert str(repo) not in text and "source" not in text


def test_open_course_enrols_at_once_and_twice_is_refused(mh_service: Service, mh_published) -> None:
    mh_published("algebra")
    assert mh_service.enrolment.enrol(LIN, "algebra").status == "enrolled"
    with pytest.raises(AlreadyEnrolled):
        mh_service.enrolment.enrol(LIN, "algebra")
    assert mh_service.courses.detail("lin", "algebra")["enrolment"]["seats_left"] is None


def test_invite_course_needs_the_current_code(mh_service: Service, mh_published) -> None:
    mh_published("algebra", enrolment={"policy": "invite"})
    with pytest.raises(WrongInviteCode):
        mh_service.enrolment.enrol(LIN, "algebra")
    old = mh_service.enrolment.new_invite_code(ADA, "algebra")
    code = mh_service.enrolment.new_invite_code(ADA, "algebra")
    with pytest.raises(WrongInviteCode):
        mh_service.enrolment.enrol(LIN, "algebra", old)
    assert mh_service.enrolment.enrol(LIN, "algebra", code).status == "enrolled"
    with pytest.raises(Forbidden):
        mh_service.enrolment.new_invite_code(LIN, "algebra")


def test_approval_course_waits_for_an_instructor(mh_service: Service, mh_published) -> None:
    mh_published("algebra", enrolment={"policy": "approval"})
    assert mh_service.enrolment.enrol(LIN, "algebra").status == "pending"
    assert (
        mh_service.enrolment.enrol(LIN, "algebra").status == "pending"
    )  # asking twice is one request
    assert mh_service.courses.roles_of("lin") == []
    with pytest.raises(Forbidden):
        mh_service.enrolment.approve(LIN, "algebra", "lin")
    assert [r["username"] for r in mh_service.enrolment.requests(ADA, "algebra")] == ["lin"]
    mh_service.enrolment.approve(ADA, "algebra", "lin")
    assert mh_service.courses.roles_of("lin")[0]["role"] == "learner"
    assert mh_service.enrolment.requests(ADA, "algebra") == []


def test_two_learners_racing_for_the_last_seat_get_one_seat(
    mh_service: Service, mh_published
) -> None:
    mh_published("algebra", enrolment={"policy": "open", "capacity": 1})
    callers = [Caller(f"learner{i}") for i in range(8)]

    def enrol(caller: Caller) -> str:
        try:
            return mh_service.enrolment.enrol(caller, "algebra").status
        except CourseFull:
            return "full"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(enrol, callers))
    assert sorted(results) == ["enrolled"] + ["full"] * 7
    roster = mh_service.courses.roster(ADA, "algebra")["members"]
    assert sum(m["role"] == "learner" for m in roster) == 1
    assert mh_service.courses.detail("ada", "algebra")["enrolment"]["seats_left"] == 0


def test_leaving_frees_the_seat_and_keeps_instructors(mh_service: Service, mh_published) -> None:
    mh_published("algebra", enrolment={"policy": "open", "capacity": 1})
    mh_service.enrolment.enrol(LIN, "algebra")
    with pytest.raises(CourseFull):
        mh_service.enrolment.enrol(SAM, "algebra")
    mh_service.enrolment.leave(LIN, "algebra")
    assert mh_service.enrolment.enrol(SAM, "algebra").status == "enrolled"
    with pytest.raises(Exception, match="instructor"):
        mh_service.enrolment.leave(ADA, "algebra")


def test_only_people_in_the_course_read_its_edition(mh_service: Service, mh_published) -> None:
    mh_published("algebra")
    with pytest.raises(Forbidden):
        mh_service.publisher.edition(LIN, "algebra")
    with pytest.raises(Forbidden):
        mh_service.publisher.edition_file(LIN, "algebra", 1, "cheatsheet.md")
    mh_service.enrolment.enrol(LIN, "algebra")
    files = {f["path"] for f in mh_service.publisher.edition(LIN, "algebra")["files"]}
    assert "assignments/ps1-basics/ps1.ipynb" in files
    with pytest.raises(FileNotFoundError):
        mh_service.publisher.edition_file(LIN, "algebra", 1, "mentorhub.yaml")
    with pytest.raises(FileNotFoundError):
        mh_service.publisher.edition_file(LIN, "algebra", 1, "../../algebra/edition.json")


def test_learner_edition_files_hold_no_solution_or_hidden_test(
    mh_service: Service, mh_published
) -> None:
    mh_published("algebra")
    mh_service.enrolment.enrol(LIN, "algebra")
    for f in mh_service.publisher.edition(LIN, "algebra")["files"]:
        text = mh_service.publisher.edition_file(LIN, "algebra", 1, f["path"]).read_text()
        assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text, f["path"]


def test_roster_shows_what_each_member_last_synced(mh_service: Service, mh_published) -> None:
    mh_published("algebra")
    mh_service.enrolment.enrol(LIN, "algebra")
    mh_service.courses.record_sync(LIN, "algebra", 1)
    with pytest.raises(Forbidden):
        mh_service.courses.record_sync(SAM, "algebra", 1)
    with pytest.raises(Forbidden):
        mh_service.courses.roster(LIN, "algebra")
    members = {m["username"]: m for m in mh_service.courses.roster(ADA, "algebra")["members"]}
    assert members["lin"]["synced_version"] == 1 and members["lin"]["synced_at"]
    assert members["ada"]["synced_version"] is None


def test_learner_cannot_change_roles_mentor_cannot_either(
    mh_service: Service, mh_published
) -> None:
    mh_published("algebra")
    mh_service.courses.set_role(ADA, "algebra", "mo", Role.mentor)
    mh_service.enrolment.enrol(LIN, "algebra")
    for caller in (LIN, MO):
        with pytest.raises(Forbidden):
            mh_service.courses.set_role(caller, "algebra", "lin", Role.instructor)
    assert mh_service.courses.roles_of("lin")[0]["role"] == "learner"
    members = {m["username"] for m in mh_service.courses.roster(MO, "algebra")["members"]}
    assert members == {"ada", "instructor", "mo", "lin"}  # "instructor": named by the manifest


def test_role_change_reports_old_and_new_role_and_counts_seats(
    mh_service: Service, mh_published
) -> None:
    mh_published("algebra", enrolment={"policy": "open", "capacity": 1})
    first = mh_service.courses.set_role(ADA, "algebra", "lin", Role.learner)
    second = mh_service.courses.set_role(ADA, "algebra", "lin", Role.mentor)
    assert (first.old, first.new, second.old, second.new) == (
        None,
        Role.learner,
        Role.learner,
        Role.mentor,
    )
    assert (
        mh_service.enrolment.enrol(SAM, "algebra").status == "enrolled"
    )  # lin no longer holds the seat


def test_unknown_course_is_not_found(mh_service: Service) -> None:
    with pytest.raises(CourseNotFound):
        mh_service.courses.roster(ADA, "nope")
    with pytest.raises(CourseNotFound):
        mh_service.enrolment.enrol(LIN, "nope")


def test_demo_seed_is_idempotent_and_mirrors_roles_into_groups(mh_service: Service) -> None:
    from conftest import DEMO_COURSE

    roles = {"ada": Role.instructor, "lin": Role.learner}
    first = mh_service.publisher.publish_directory(DEMO_COURSE, roles)
    again = mh_service.publisher.publish_directory(DEMO_COURSE, roles)
    assert (first.new, again.new, again.version) == (True, False, 1)
    groups = mh_service.courses.all_memberships()
    assert groups[hub_group("intro-python", Role.learner)] == ["lin"]
    assert set(groups[hub_group("intro-python", Role.instructor)]) == {"ada", "instructor"}


def test_private_repository_is_fetched_with_the_services_credentials(
    mh_service: Service, mh_course_repo, tmp_path: Path
) -> None:
    server = serve_git(
        mh_course_repo("private"), tmp_path / "http", auth=("teacher", "s3cret-token")
    )
    url = f"{server.url}/course.git"
    try:
        with pytest.raises(FetchError) as refused:
            mh_service.publisher.publish(ADA, url)
        assert "s3cret-token" not in str(refused.value)
        with_creds = Publisher(
            mh_service.publisher.db,
            mh_service.courses,
            mh_service.editions,
            credentials={server.url + "/": GitCredentials("teacher", "s3cret-token")},
        )
        assert with_creds.publish(ADA, url).version == 1
    finally:
        server.shutdown()
    detail = mh_service.courses.detail("lin", "private")
    assert "s3cret" not in repr(detail) and server.url not in repr(detail)


@pytest.mark.parametrize(
    "source, given",
    [
        ("https://git.example.org/team/course.git", True),
        ("https://git.example.org/team", True),
        ("https://git.example.org/teamevil/course.git", False),
        ("https://git.example.org.evil.net/team/course.git", False),
        ("http://git.example.org/team/course.git", False),
        ("https://user@git.example.org/team/course.git", False),
    ],
)
def test_credentials_go_only_to_the_configured_host_and_path(tmp_path: Path, source, given) -> None:
    creds = GitCredentials("teacher", "s3cret-token")
    publisher = Publisher(
        None, None, tmp_path, credentials={"https://git.example.org/team/": creds}
    )
    assert (publisher.credentials_for(source) is creds) is given
