"""The learner edition: lessons as they are, assignments as nbgrader release versions made in
process, the same as ``nbgrader generate_assignment`` makes them, and no solutions anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
import yaml
from mentorhub_service.publishing.edition import (
    LEFT_OUT,
    build_learner_edition,
    release_preprocessors,
)
from mentorhub_service.publishing.validate import CourseSource, load_course
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from nbgrader.api import Gradebook
from nbgrader.converters.generate_assignment import GenerateAssignment

DEMO = Path(__file__).parents[1] / "courses" / "intro-python"
MARKERS = ["BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"]
MARKERS += ["BEGIN MARK SCHEME", "END MARK SCHEME"]
REGIONS = [
    ("BEGIN SOLUTION", "END SOLUTION"),
    ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS"),
    ("BEGIN MARK SCHEME", "END MARK SCHEME"),
]


@pytest.fixture(scope="module")
def mh_demo_edition(tmp_path_factory) -> tuple[CourseSource, Path]:
    """The demo course and its learner edition, built once for the module."""
    course = load_course(DEMO)
    out = tmp_path_factory.mktemp("edition") / "intro-python"
    build_learner_edition(course, out)
    return course, out


@pytest.fixture
def mh_course_dir(tmp_path: Path) -> Callable[[dict, dict], Path]:
    """Factory: a course directory from a manifest and file contents by path."""

    def make(manifest: dict, files: dict) -> Path:
        root = tmp_path / "course"
        for path, content in {"mentorhub.yaml": yaml.safe_dump(manifest), **files}.items():
            target = root / path
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, nbformat.NotebookNode):
                content = nbformat.writes(content)
            target.write_text(content)
        return root

    return make


def nbgrader(**meta) -> dict:
    return {
        "nbgrader": {
            "schema_version": 3,
            "grade": False,
            "solution": False,
            "locked": False,
            **meta,
        }
    }


def python_notebook(*cells) -> nbformat.NotebookNode:
    nb = new_notebook(cells=list(cells))
    nb.metadata.kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def regions(source: str) -> list[str]:
    """The text of every nbgrader region (solution, hidden tests, mark scheme) in a source."""
    found = []
    for begin, end in REGIONS:
        inside: list[str] | None = None
        for line in source.split("\n"):
            if begin in line:
                inside = []
            elif end in line and inside is not None:
                found.append("\n".join(inside))
                inside = None
            elif inside is not None:
                inside.append(line)
    return found


def secrets(nb: nbformat.NotebookNode) -> list[str]:
    """What learners must never see: regions, and solution cells without regions (cleared
    whole by nbgrader)."""
    out = []
    for cell in nb.cells:
        found = regions(cell.source)
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution") and not found:
            found = [cell.source]
        out += found
    return [block for block in out if block.strip()]


def visible_text(path: Path) -> str:
    """Everything a learner can read in a file: cell sources and outputs of a notebook."""
    if path.suffix != ".ipynb":
        return path.read_text()
    nb = nbformat.read(path, as_version=4)
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        parts += [json.dumps(o, ensure_ascii=False) for o in cell.get("outputs", [])]
    return "\n".join(parts)


def lines_of(text: str) -> set[str]:
    return {line.strip() for line in text.split("\n") if line.strip()}


def edition_files(out: Path) -> list[Path]:
    return sorted(p for p in out.rglob("*") if p.is_file())


def run_nbgrader(root: Path, *args: str) -> None:
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(root / ".jupyter"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # nbgrader runs alembic
    result = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def test_edition_holds_lessons_files_and_released_assignments(mh_demo_edition) -> None:
    course, out = mh_demo_edition
    index = json.loads((out / "edition.json").read_text())
    expected = {*course.manifest.lessons, *course.manifest.files}
    expected |= {"assignments/ps1-basics/ps1.ipynb", "assignments/reflection/reflection.ipynb"}
    assert set(index["files"]) == expected
    on_disk = {p.relative_to(out).as_posix() for p in edition_files(out)}
    assert on_disk == expected | {"edition.json"}
    for path, digest in index["files"].items():
        assert hashlib.sha256((out / path).read_bytes()).hexdigest() == digest


def test_lessons_and_files_are_copied_byte_for_byte(mh_demo_edition) -> None:
    course, out = mh_demo_edition
    for path in (*course.manifest.lessons, *course.manifest.files):
        assert (out / path).read_bytes() == (DEMO / path).read_bytes()
    lesson = nbformat.read(out / course.manifest.lessons[0], as_version=4)
    assert any(cell.get("outputs") for cell in lesson.cells)


def test_edition_index_has_the_public_manifest(mh_demo_edition) -> None:
    _, out = mh_demo_edition
    course = json.loads((out / "edition.json").read_text())["course"]
    assert (course["slug"], course["title"], course["level"]) == (
        "intro-python",
        "Introduction to Python",
        "beginner",
    )
    ps1 = course["assignments"][0]
    assert ps1 == {
        "name": "ps1-basics",
        "title": "Problem set 1: the basics",
        "due": "2026-12-15T23:59:00Z",
        "points": 10,
        "notebooks": ["assignments/ps1-basics/ps1.ipynb"],
        "files": [],
    }


def test_no_learner_visible_file_holds_nbgrader_markers(mh_demo_edition) -> None:
    _, out = mh_demo_edition
    for path in edition_files(out):
        text = path.read_text()
        assert not [m for m in MARKERS if m in text], path


def test_no_learner_visible_file_holds_solutions_or_hidden_tests(mh_demo_edition) -> None:
    course, out = mh_demo_edition
    everything = {p: visible_text(p) for p in edition_files(out)}
    for assignment in course.assignments:
        for source in assignment.notebooks:
            hidden = secrets(source.notebook)
            assert len(hidden) >= 2, "the demo assignments have solutions and hidden tests"
            release = lines_of(everything[out / assignment.spec.release_path(source.path)])
            for block in hidden:
                # whole solutions and hidden tests appear in no file at all...
                assert not [p for p, text in everything.items() if block.strip() in text], block
                # ...and not one of their lines is left in the release
                assert not lines_of(block) & release, block


@pytest.fixture(scope="module")
def mh_nbgrader_course(tmp_path_factory) -> Path:
    """An nbgrader course directory holding the demo assignments as sources, and as one
    learner's submissions, after the real ``nbgrader generate_assignment``."""
    root = tmp_path_factory.mktemp("nbgrader")
    for assignment in load_course(DEMO).assignments:
        for nb in assignment.notebooks:
            for stage in ("source", "submitted/learner"):
                target = root / stage / assignment.spec.name / Path(nb.path).name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(DEMO / nb.path, target)
    run_nbgrader(root, "generate_assignment", "--CourseDirectory.assignment_id=*")
    return root


def test_release_matches_nbgrader_generate_assignment(mh_demo_edition, mh_nbgrader_course) -> None:
    course, out = mh_demo_edition
    for assignment in course.assignments:
        for nb in assignment.notebooks:
            ours_path = out / assignment.spec.release_path(nb.path)
            theirs_path = mh_nbgrader_course / "release" / assignment.spec.name / Path(nb.path).name
            ours = nbformat.read(ours_path, as_version=4)
            theirs = nbformat.read(theirs_path, as_version=4)
            assert [(c.cell_type, c.source, c.metadata) for c in ours.cells] == [
                (c.cell_type, c.source, c.metadata) for c in theirs.cells
            ]
            assert ours.metadata == theirs.metadata
            assert ours_path.read_bytes() == theirs_path.read_bytes()


def test_demo_solutions_get_full_marks_from_nbgrader_autograde(mh_nbgrader_course) -> None:
    run_nbgrader(mh_nbgrader_course, "autograde", "--CourseDirectory.assignment_id=*", "--create")
    with Gradebook(f"sqlite:///{mh_nbgrader_course / 'gradebook.db'}") as gb:
        ps1 = gb.find_submission("ps1-basics", "learner")
        assert (ps1.score, ps1.max_score, ps1.needs_manual_grade) == (10, 10, False)
        reflection = gb.find_submission("reflection", "learner")
        auto = {g.name: (g.score, g.max_score) for g in reflection.notebooks[0].grades}
        assert auto["leap-year-tests"] == (2, 2)
        assert reflection.max_score == 5
        assert reflection.needs_manual_grade  # the written answer is for a person to grade


def test_release_chain_is_nbgraders_own_minus_the_left_out_steps() -> None:
    chain = GenerateAssignment.class_traits()["preprocessors"].default()
    assert release_preprocessors() == [p for p in chain if p not in LEFT_OUT]


def test_huge_lesson_outputs_are_accepted_and_copied(mh_course_dir, tmp_path: Path) -> None:
    flood = new_output("stream", name="stdout", text="all work and no play\n" * 250_000)
    lesson = python_notebook(new_code_cell("print(...)", outputs=[flood], execution_count=1))
    root = mh_course_dir(
        {"slug": "big", "title": "Big", "lessons": ["big.ipynb"]}, {"big.ipynb": lesson}
    )
    assert (root / "big.ipynb").stat().st_size > 5_000_000
    build_learner_edition(load_course(root), tmp_path / "out")
    assert (tmp_path / "out" / "big.ipynb").read_bytes() == (root / "big.ipynb").read_bytes()


def test_mark_schemes_and_solution_cells_are_cleared_from_the_release(
    mh_course_dir, tmp_path: Path
) -> None:
    scheme = "Plot the data.\n=== BEGIN MARK SCHEME ===\nAward 2 points for labelled axes.\n=== END MARK SCHEME ==="
    task = new_markdown_cell(
        scheme, metadata=nbgrader(task=True, locked=True, grade_id="plot", points=2)
    )
    answer = new_markdown_cell(
        "The model answer.",
        metadata=nbgrader(solution=True, grade=True, grade_id="essay", points=1),
    )
    source = python_notebook(task, answer)
    manifest = {
        "slug": "tasks",
        "title": "Tasks",
        "assignments": [{"name": "t1", "points": 3, "notebooks": ["t1/t1.ipynb"]}],
    }
    build_learner_edition(
        load_course(mh_course_dir(manifest, {"t1/t1.ipynb": source})), tmp_path / "out"
    )
    release = nbformat.read(tmp_path / "out" / "assignments" / "t1" / "t1.ipynb", as_version=4)
    assert release.cells[0].source == "Plot the data."
    assert release.cells[1].source == "YOUR ANSWER HERE"
    assert release.cells[1].metadata["nbgrader"]["checksum"]


def test_build_refuses_a_non_empty_out_dir(mh_demo_edition) -> None:
    course, out = mh_demo_edition
    with pytest.raises(FileExistsError):
        build_learner_edition(course, out)


def test_building_again_gives_the_same_edition(mh_demo_edition, tmp_path: Path) -> None:
    course, out = mh_demo_edition
    again = build_learner_edition(course, tmp_path / "again")
    assert again.to_json() == json.loads((out / "edition.json").read_text())
