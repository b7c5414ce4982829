"""Validating course repositories: the demo course passes, every broken course is refused with
every problem named by file and cell. Courses are plain directories made in tmp dirs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml
from mentorhub_service.publishing.manifest import (
    CourseInvalid,
    EnrolmentPolicy,
    Level,
    MentoringPolicy,
    Problem,
    parse_manifest,
)
from mentorhub_service.publishing.validate import load_course
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

DEMO = Path(__file__).parents[1] / "courses" / "intro-python"
LESSON = "lessons/intro.ipynb"
HW = "assignments/hw1/hw1.ipynb"
MANIFEST = "mentorhub.yaml"


def nbgrader(**meta: Any) -> dict:
    return {
        "nbgrader": {
            "schema_version": 3,
            "grade": False,
            "solution": False,
            "locked": False,
            **meta,
        }
    }


def make_notebook(*cells: Any, kernel: str | None = "python3") -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i}"
    if kernel:
        nb.metadata.kernelspec = {"name": kernel, "display_name": kernel, "language": "python"}
    return nb


def lesson() -> nbformat.NotebookNode:
    shown = new_output("stream", name="stdout", text="4\n")
    return make_notebook(
        new_markdown_cell("# Doubling\nMultiply by two."),
        new_code_cell("print(2 * 2)", outputs=[shown], execution_count=1),
    )


def homework() -> nbformat.NotebookNode:
    solution = "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"
    tests = "assert double(2) == 4\n### BEGIN HIDDEN TESTS\nassert double(-1) == -2\n### END HIDDEN TESTS"
    return make_notebook(
        new_markdown_cell("Write `double`."),
        new_code_cell(solution, metadata=nbgrader(solution=True, grade_id="double")),
        new_code_cell(tests, metadata=nbgrader(grade=True, grade_id="double-tests", points=3)),
    )


def tiny_course() -> dict:
    """A small valid course as data: the manifest, and file contents by path."""
    manifest = {
        "slug": "tiny",
        "title": "Tiny",
        "level": "beginner",
        "lessons": [LESSON],
        "assignments": [
            {"name": "hw1", "due": "2026-12-15T23:59:00Z", "points": 3, "notebooks": [HW]}
        ],
    }
    return {"manifest": manifest, "files": {LESSON: lesson(), HW: homework()}}


@pytest.fixture
def mh_course(tmp_path: Path) -> Callable[..., Path]:
    """Factory: write a course (tiny_course() after ``change``) as a plain directory."""
    made = iter(range(1000))

    def make(change: Callable[[dict], Any] | None = None) -> Path:
        course = tiny_course()
        if change is not None:
            change(course)
        root = tmp_path / f"course{next(made)}"
        root.mkdir()
        files = dict(course["files"])
        if course["manifest"] is not None:
            manifest = course["manifest"]
            files[MANIFEST] = manifest if isinstance(manifest, str) else yaml.safe_dump(manifest)
        for path, content in files.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, nbformat.NotebookNode):
                content = json.dumps(content, indent=1)  # as is, even when invalid
            target.write_bytes(content if isinstance(content, bytes) else content.encode())
        return root

    return make


def refusal(root: Path, **kwargs: Any) -> list[Problem]:
    with pytest.raises(CourseInvalid) as info:
        load_course(root, **kwargs)
    return info.value.problems


def hw_cell(course: dict, index: int) -> nbformat.NotebookNode:
    return course["files"][HW].cells[index]


def meta(course: dict, index: int) -> dict:
    return hw_cell(course, index).metadata["nbgrader"]


def set_manifest(key: str, value: Any) -> Callable[[dict], None]:
    return lambda c: c["manifest"].__setitem__(key, value)


def set_hw(key: str, value: Any) -> Callable[[dict], None]:
    return lambda c: c["manifest"]["assignments"][0].__setitem__(key, value)


def add_cell(path: str, cell: Any) -> Callable[[dict], None]:
    return lambda c: c["files"][path].cells.append(cell)


def both(*changes: Callable[[dict], Any]) -> Callable[[dict], None]:
    def change(c: dict) -> None:
        for f in changes:
            f(c)

    return change


def old_schema(c: dict) -> None:
    meta(c, 1)["schema_version"] = 1


def add_hw_file(path: str, content: str | bytes = "x,y\n1,2\n") -> Callable[[dict], None]:
    return lambda c: c["files"].__setitem__(path, content)


SOLUTION_REGION = "x = 1\n### BEGIN SOLUTION\nx = 2\n### END SOLUTION"
HIDDEN_REGION = "### BEGIN HIDDEN TESTS\nassert True\n### END HIDDEN TESTS"

# (id, change to the tiny course, expected file, expected cell, part of the message)
# fmt: off
BROKEN = [
    ("no-manifest", lambda c: c.__setitem__("manifest", None), MANIFEST, None, "missing"),
    ("manifest-not-yaml", lambda c: c.__setitem__("manifest", "slug: [tiny\n"), MANIFEST, None, "not valid YAML (line 2"),
    ("manifest-not-mapping", lambda c: c.__setitem__("manifest", "- tiny\n"), MANIFEST, None, "must be a YAML mapping"),
    ("manifest-duplicate-key", lambda c: c.__setitem__("manifest", "slug: a\nslug: b\ntitle: T\n"), MANIFEST, None, "duplicate key 'slug'"),
    ("missing-slug", lambda c: c["manifest"].pop("slug"), MANIFEST, None, "slug: missing"),
    ("bad-slug", set_manifest("slug", "Intro Python"), MANIFEST, None, "slug: 'Intro Python' does not match"),
    ("empty-title", set_manifest("title", " "), MANIFEST, None, "title: must not be empty"),
    ("unknown-key", set_manifest("titel", "x"), MANIFEST, None, "titel: unknown key (did you mean 'title'?)"),
    ("unknown-nested-key", set_manifest("enrolment", {"polcy": "open"}), MANIFEST, None, "enrolment.polcy: unknown key"),
    ("unknown-assignment-key", set_hw("deadline", "2026-12-15T23:59:00Z"), MANIFEST, None, "assignments[0].deadline: unknown key"),
    ("bad-level", set_manifest("level", "expert"), MANIFEST, None, "level: 'expert' is not one of beginner"),
    ("bad-enrolment-policy", set_manifest("enrolment", {"policy": "closed"}), MANIFEST, None, "enrolment.policy: 'closed'"),
    ("zero-capacity", set_manifest("enrolment", {"capacity": 0}), MANIFEST, None, "capacity: must be null or a positive integer"),
    ("bad-mentoring-policy", set_manifest("mentoring", {"policy": "always"}), MANIFEST, None, "mentoring.policy: 'always'"),
    ("tags-not-list", set_manifest("tags", "python"), MANIFEST, None, "tags: must be a list"),
    ("bad-instructor", set_manifest("instructors", ["Ada Lovelace"]), MANIFEST, None, "instructors[0]: 'Ada Lovelace' is not a hub username"),
    ("due-without-timezone", set_hw("due", "2026-12-15T23:59:00"), MANIFEST, None, "assignments[0].due: 2026-12-15T23:59:00 has no timezone"),
    ("due-date-only", set_hw("due", datetime(2026, 12, 15).date()), MANIFEST, None, "2026-12-15 must be a date and time with a timezone"),
    ("due-not-a-date", set_hw("due", "next friday"), MANIFEST, None, "'next friday' is not an ISO 8601"),
    ("bad-assignment-name", set_hw("name", "PS 1"), MANIFEST, None, "assignments[0].name: 'PS 1' does not match"),
    ("duplicate-assignment", lambda c: c["manifest"]["assignments"].append(dict(c["manifest"]["assignments"][0])), MANIFEST, None, "assignments[1].name: 'hw1' is used by another"),
    ("negative-assignment-points", set_hw("points", -3), MANIFEST, None, "assignments[0].points: must be a positive number"),
    ("assignment-points-mismatch", set_hw("points", 5), MANIFEST, None, "has points: 5, but its notebooks' nbgrader points add up to 3"),
    ("assignment-without-notebooks", set_hw("notebooks", []), MANIFEST, None, "notebooks: must list at least one notebook"),
    ("assignment-notebook-not-ipynb", set_hw("notebooks", ["assignments/hw1/hw1.py"]), MANIFEST, None, "is not a notebook (.ipynb)"),
    ("assignment-notebooks-apart", both(set_hw("notebooks", [HW, "extra/hw2.ipynb"]), add_hw_file("extra/hw2.ipynb", nbformat.writes(homework()))), MANIFEST, None, "'extra/hw2.ipynb' is not in 'assignments/hw1'"),
    ("assignment-file-outside", both(set_hw("files", ["data.csv"]), add_hw_file("data.csv")), MANIFEST, None, "'data.csv' is not under the assignment's directory"),
    ("path-escapes", set_manifest("lessons", ["../secret.ipynb"]), MANIFEST, None, "lessons[0]: '../secret.ipynb' must be a relative path inside"),
    ("absolute-path", set_manifest("files", ["/etc/passwd"]), MANIFEST, None, "files[0]: '/etc/passwd' must be a relative path"),
    ("lesson-missing", set_manifest("lessons", [LESSON, "lessons/two.ipynb"]), "lessons/two.ipynb", None, "listed in mentorhub.yaml (lessons), but no such file"),
    ("assignment-notebook-missing", lambda c: c["files"].pop(HW), HW, None, "listed in mentorhub.yaml (the notebooks of assignment 'hw1'), but no such file"),
    ("course-file-missing", set_manifest("files", ["data"]), "data", None, "(files), but no such file or directory"),
    ("assignment-file-missing", set_hw("files", ["assignments/hw1/data.csv"]), "assignments/hw1/data.csv", None, "the files of assignment 'hw1'"),
    ("lesson-json-malformed", lambda c: c["files"].__setitem__(LESSON, '{"cells": [}'), LESSON, None, "not valid notebook JSON: Expecting value (line 1, column 12)"),
    ("lesson-json-too-deep", lambda c: c["files"].__setitem__(LESSON, "[" * 100_000), LESSON, None, "nested too deeply"),
    ("manifest-too-deep", lambda c: c.__setitem__("manifest", "a: " + "[" * 100_000), MANIFEST, None, "nested too deeply"),
    ("assignment-not-text", lambda c: c["files"].__setitem__(HW, b"\x89PNG"), HW, None, "not UTF-8"),
    ("notebook-format-3", lambda c: c["files"].__setitem__(LESSON, '{"nbformat": 3, "worksheets": []}'), LESSON, None, "not a Jupyter notebook in format 4 (nbformat: 3)"),
    ("unknown-cell-type", lambda c: c["files"][LESSON].cells[0].__setitem__("cell_type", "mark"), LESSON, "cell 1", "cell_type 'mark' is not a known one"),
    ("code-cell-without-outputs", lambda c: c["files"][LESSON].cells[1].pop("outputs"), LESSON, "cell 2", "'outputs' is a required property"),
    ("unknown-kernel", lambda c: c["files"][LESSON].metadata.kernelspec.__setitem__("name", "ir"), LESSON, None, "kernel 'ir' is not available here; use one of: python3"),
    ("no-kernelspec", lambda c: c["files"][HW].metadata.pop("kernelspec"), HW, None, "has no kernelspec"),
    ("duplicate-grade-id", lambda c: meta(c, 2).__setitem__("grade_id", "double"), HW, "cell 3", "grade_id 'double' is already used by cell 2"),
    ("grade-cell-without-id", lambda c: meta(c, 2).pop("grade_id"), HW, "cell 3", "without a grade_id"),
    ("solution-cell-without-id", lambda c: meta(c, 1).pop("grade_id"), HW, "cell 2", "without a grade_id"),
    ("locked-cell-without-id", add_cell(HW, new_markdown_cell("Read me", metadata=nbgrader(locked=True))), HW, "cell 4", "without a grade_id"),
    ("points-on-solution-cell", lambda c: meta(c, 1).__setitem__("points", 2), HW, "cell 2", "has points (2) but is not a graded cell"),
    ("string-points", lambda c: meta(c, 2).__setitem__("points", "3"), HW, "cell 3", "points must be a number, not '3'"),
    ("negative-points", lambda c: meta(c, 2).__setitem__("points", -1), HW, "cell 3", "points must be zero or more, not -1"),
    ("grade-cell-without-points", lambda c: meta(c, 2).pop("points"), HW, "cell 3", "is a graded cell without points"),
    ("unknown-nbgrader-key", lambda c: meta(c, 1).__setitem__("grade_idd", "x"), HW, "cell 2", "nbgrader metadata: Additional properties are not allowed ('grade_idd'"),
    ("old-nbgrader-schema", old_schema, HW, "cell 2", "nbgrader metadata: Outdated schema version: 1"),
    ("markdown-grade-not-solution", add_cell(HW, new_markdown_cell("Essay", metadata=nbgrader(grade=True, grade_id="essay", points=0))), HW, "cell 4", "is not marked as a solution cell"),
    ("solution-cell-with-attachment", add_cell(HW, new_markdown_cell("![answer](attachment:a.png)", metadata=nbgrader(solution=True, grade=True, grade_id="essay", points=0), attachments={"a.png": {"image/png": "iVBORw0KGgo="}})), HW, "cell 4", "has attachments, which nbgrader keeps in the release"),
    ("no-graded-cells", lambda c: c["files"][HW].cells.pop(2), HW, None, "has no graded cells"),
    ("solution-region-in-plain-cell", add_cell(HW, new_code_cell(SOLUTION_REGION)), HW, "cell 4", "has a 'BEGIN SOLUTION' region but is not an nbgrader solution cell"),
    ("hidden-tests-in-solution-cell", lambda c: hw_cell(c, 1).__setitem__("source", HIDDEN_REGION), HW, "cell 2", "has a 'BEGIN HIDDEN TESTS' region but is not an nbgrader grade cell"),
    ("unclosed-solution", lambda c: hw_cell(c, 1).__setitem__("source", "### BEGIN SOLUTION\nx = 1"), HW, "cell 2", "'BEGIN SOLUTION' has no matching 'END SOLUTION'"),
    ("nested-hidden-tests", lambda c: hw_cell(c, 2).__setitem__("source", "### BEGIN HIDDEN TESTS\n" + HIDDEN_REGION), HW, "cell 3", "nested 'BEGIN HIDDEN TESTS'"),
    ("autotest-directive", add_cell(HW, new_code_cell("AUTOTEST double(2)", metadata=nbgrader(grade=True, grade_id="auto", points=0))), HW, "cell 4", "AUTOTEST directive"),
    ("lesson-with-solution-region", add_cell(LESSON, new_code_cell(SOLUTION_REGION)), LESSON, "cell 3", "contains 'BEGIN SOLUTION'"),
    ("lesson-with-hidden-tests", add_cell(LESSON, new_code_cell(HIDDEN_REGION)), LESSON, "cell 3", "contains 'BEGIN HIDDEN TESTS'"),
    ("lesson-with-solution-cell", add_cell(LESSON, new_code_cell("x = 42", metadata=nbgrader(solution=True, grade_id="x"))), LESSON, "cell 3", "is an nbgrader solution cell"),
    ("lesson-is-assignment-source", set_manifest("lessons", [LESSON, HW]), HW, None, "is an assignment source notebook"),
    ("files-include-assignment-sources", set_manifest("files", ["assignments"]), HW, None, "is an assignment source notebook"),
    ("extra-file-with-hidden-tests", both(set_manifest("files", ["tests.py"]), add_hw_file("tests.py", HIDDEN_REGION)), "tests.py", None, "contains 'BEGIN HIDDEN TESTS'"),
    ("file-named-like-the-index", both(set_manifest("files", ["edition.json"]), add_hw_file("edition.json", "{}")), "edition.json", None, "is reserved"),
    ("file-where-a-release-goes", both(set_hw("name", "x"), set_manifest("files", ["assignments/x"]), add_hw_file("assignments/x")), HW, None, "but assignments/x is a file there (from assignments/x)"),
]
# fmt: on


@pytest.mark.parametrize(
    ("change", "file", "cell", "message"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN]
)
def test_broken_course_is_refused_naming_file_and_cell(
    mh_course, change, file, cell, message
) -> None:
    problems = refusal(mh_course(change))
    matching = [p for p in problems if message in p.message]
    assert matching, f"no problem mentions {message!r}: {problems}"
    assert (matching[0].file, matching[0].cell) == (file, cell), problems


def test_tiny_course_of_the_corpus_is_valid(mh_course) -> None:
    course = load_course(mh_course())
    assert course.copies == ((LESSON, LESSON),)
    assert [nb.points for a in course.assignments for nb in a.notebooks] == [3]


def test_demo_course_validates() -> None:
    course = load_course(DEMO)
    assert course.manifest.slug == "intro-python"
    assert course.manifest.title == "Introduction to Python"
    assert len(course.manifest.lessons) >= 3
    assert {a.spec.name: sum(nb.points for nb in a.notebooks) for a in course.assignments} == {
        "ps1-basics": 10,
        "reflection": 5,
    }


def test_demo_manifest_parses_into_typed_values() -> None:
    manifest = parse_manifest((DEMO / MANIFEST).read_text())
    assert manifest.level is Level.BEGINNER
    assert manifest.enrolment.policy is EnrolmentPolicy.OPEN
    assert manifest.enrolment.capacity is None
    assert manifest.mentoring.policy is MentoringPolicy.ON_REQUEST
    assert manifest.assignments[0].due == datetime(2026, 12, 15, 23, 59, tzinfo=UTC)
    assert manifest.assignments[0].release_path(manifest.assignments[0].notebooks[0]) == (
        "assignments/ps1-basics/ps1.ipynb"
    )


def test_demo_manifest_keeps_what_the_service_seeds_from() -> None:
    data = yaml.safe_load((DEMO / MANIFEST).read_text())
    assert data["slug"] == "intro-python"
    assert data["title"] == "Introduction to Python"
    assert data["description"].strip()


def test_course_with_several_problems_lists_every_one(mh_course) -> None:
    def break_everything(c: dict) -> None:
        c["manifest"]["level"] = "expert"
        c["manifest"]["lessons"].append("lessons/missing.ipynb")
        c["files"][LESSON].metadata.kernelspec.name = "julia-1.9"
        meta(c, 2)["grade_id"] = "double"
        meta(c, 1)["points"] = "1"

    problems = refusal(mh_course(break_everything))
    assert {(p.file, p.cell) for p in problems} >= {
        (MANIFEST, None),
        ("lessons/missing.ipynb", None),
        (LESSON, None),
        (HW, "cell 2"),
        (HW, "cell 3"),
    }
    assert len(problems) >= 5


def test_every_nbgrader_problem_in_a_notebook_is_listed(mh_course) -> None:
    def tamper(c: dict) -> None:
        meta(c, 1).pop("grade_id")
        meta(c, 2)["points"] = "three"
        c["files"][HW].cells.append(
            new_code_cell("pass", metadata=nbgrader(grade=True, grade_id="double-tests", points=1))
        )

    problems = [(p.cell, p.message) for p in refusal(mh_course(tamper)) if p.file == HW]
    assert [cell for cell, _ in problems] == ["cell 2", "cell 3", "cell 4"], problems
    assert "without a grade_id" in problems[0][1]
    assert "points must be a number, not 'three'" in problems[1][1]
    assert "grade_id 'double-tests' is already used by cell 3" in problems[2][1]


def test_allowed_kernels_are_configurable(mh_course) -> None:
    root = mh_course(lambda c: c["files"][LESSON].metadata.kernelspec.__setitem__("name", "ir"))
    assert refusal(root)
    assert load_course(root, allowed_kernels={"python3", "ir"}).manifest.slug == "tiny"


def test_course_files_may_be_directories(mh_course) -> None:
    def add_data(c: dict) -> None:
        c["manifest"]["files"] = ["data"]
        c["files"]["data/a.csv"] = "a\n"
        c["files"]["data/deep/b.txt"] = "b\n"

    course = load_course(mh_course(add_data))
    assert ("data/a.csv", "data/a.csv") in course.copies
    assert ("data/deep/b.txt", "data/deep/b.txt") in course.copies


def test_symlinked_lesson_is_refused(mh_course) -> None:
    root = mh_course()
    (root / "lessons" / "link.ipynb").symlink_to(root / LESSON)
    (root / MANIFEST).write_text(
        (root / MANIFEST).read_text().replace(LESSON, "lessons/link.ipynb")
    )
    problems = [p for p in refusal(root) if p.file == "lessons/link.ipynb"]
    assert problems and "symbolic link" in problems[0].message


def test_problem_reads_as_file_cell_and_message() -> None:
    assert str(Problem(HW, "cell 3", "no points")) == f"{HW}, cell 3: no points"
    assert "1 problem in the course" in str(CourseInvalid([Problem(MANIFEST, None, "missing")]))


def test_problems_serialise_as_plain_data(mh_course) -> None:
    problems = refusal(mh_course(set_manifest("level", "expert")))
    assert json.loads(json.dumps([p.__dict__ for p in problems]))[0]["file"] == MANIFEST
