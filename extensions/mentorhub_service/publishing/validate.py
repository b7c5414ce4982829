"""Validating a fetched course tree: every problem found, each named by file and cell.

Nothing from the course is executed: notebooks are read as JSON and checked against the
notebook schema, nbgrader's metadata rules, and the rules that keep solutions out of what
learners receive.

Glossary (nbgrader's vocabulary):

source notebook
    an assignment notebook as the instructor writes it, with solutions and hidden tests.
release version
    what learners get, as ``nbgrader generate_assignment`` makes it (see ``edition.py``).
grade cell / task cell
    a cell worth ``points``: autograder tests, a manually graded answer, or a manual task.
solution cell
    where learners answer; ``### BEGIN SOLUTION`` regions (or the whole cell) are cleared.
locked cell
    read-only; its checksum lets nbgrader detect tampering. Grade cells are locked.
as-is file
    a lesson or an extra file, given to learners byte for byte.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbformat import NotebookNode
from nbformat.validator import iter_validate
from nbgrader.nbgraderformat import MetadataValidator
from nbgrader.nbgraderformat.common import SchemaMismatchError, ValidationError
from nbgrader.preprocessors import ClearHiddenTests, ClearMarkScheme, ClearSolutions
from nbgrader.preprocessors.instantiatetests import InstantiateTests
from nbgrader.utils import is_grade, is_locked, is_solution, is_task

from .manifest import (
    MANIFEST,
    AssignmentSpec,
    CourseInvalid,
    CourseManifest,
    Problem,
    read_manifest,
)

__all__ = ["CourseInvalid", "CourseSource", "Problem", "load_course", "DEFAULT_KERNELS"]

DEFAULT_KERNELS = frozenset({"python3"})
EDITION_INDEX = "edition.json"


def _delimiters(cls: type, begin: str, end: str) -> tuple[str, str]:
    traits = cls.class_traits()
    return traits[begin].default_value, traits[end].default_value


# nbgrader's own region delimiters, and the kind of cell each region may sit in
REGIONS = [
    (*_delimiters(ClearSolutions, "begin_solution_delimeter", "end_solution_delimeter"), "solution", is_solution),
    (*_delimiters(ClearHiddenTests, "begin_test_delimeter", "end_test_delimeter"), "grade", is_grade),
    (*_delimiters(ClearMarkScheme, "begin_mark_scheme_delimeter", "end_mark_scheme_delimeter"), "task", is_task),
]  # fmt: skip
LEAK_MARKERS = tuple(begin for begin, *_ in REGIONS)
AUTOTEST = InstantiateTests.class_traits()["autotest_delimiter"].default_value
AS_IS = "lessons are given as they are, so learners would see it (make it an assignment)"


@dataclass(frozen=True)
class SourceNotebook:
    path: str  # in the repository
    notebook: NotebookNode  # as nbformat.read gives it; never modified
    points: float  # sum of nbgrader points of its grade and task cells


@dataclass(frozen=True)
class AssignmentSource:
    spec: AssignmentSpec
    notebooks: tuple[SourceNotebook, ...]


@dataclass(frozen=True)
class CourseSource:
    """A course that passed every check, ready for ``build_learner_edition``."""

    root: Path
    manifest: CourseManifest
    copies: tuple[tuple[str, str], ...]  # as-is files: (path in repository, path in edition)
    assignments: tuple[AssignmentSource, ...]


def load_course(tree: Path, allowed_kernels: Collection[str] = DEFAULT_KERNELS) -> CourseSource:
    """Validate the course in ``tree`` (a plain directory), or raise CourseInvalid listing all
    problems found. ``allowed_kernels``: kernelspec names notebooks may use."""
    return _Checker(Path(tree), frozenset(allowed_kernels)).run()


def cell_label(index: int) -> str:
    return f"cell {index + 1}"


class _Checker:
    def __init__(self, root: Path, kernels: frozenset[str]) -> None:
        self.root = root
        self.kernels = kernels
        self.problems: list[Problem] = []
        self.metadata_validator = MetadataValidator()

    def problem(self, file: str, cell: str | None, message: str) -> None:
        problem = Problem(file, cell, message)
        if problem not in self.problems:
            self.problems.append(problem)

    def run(self) -> CourseSource:
        if not self._is_file(MANIFEST):
            missing = "missing; a course repository has one at its root"
            raise CourseInvalid([Problem(MANIFEST, None, missing)])
        try:
            text = (self.root / MANIFEST).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise CourseInvalid([Problem(MANIFEST, None, "not UTF-8 text")]) from None
        manifest, self.problems = read_manifest(text)
        if manifest is None:
            raise CourseInvalid(self.problems)

        copies: list[tuple[str, str]] = []
        for path in manifest.lessons:
            if self._present(path, "lessons", directory_ok=False):
                copies.append((path, path))
        for path in manifest.files:
            copies += [(p, p) for p in self._expand(path, "files")]
        assignments = []
        for spec in manifest.assignments:
            for path in spec.files:
                files = self._expand(path, f"the files of assignment {spec.name!r}")
                copies += [(p, spec.release_path(p)) for p in files]
            assignments.append(self._assignment(spec))

        sources = {path for spec in manifest.assignments for path in spec.notebooks}
        for src in [src for src, _ in copies if src in sources]:
            self.problem(
                src,
                None,
                "is an assignment source notebook: given as it is, learners would see its solutions",
            )
        copies = [pair for pair in dict.fromkeys(copies) if pair[0] not in sources]
        for src, _ in copies:
            self._check_as_is(src)
        self._check_destinations(copies, assignments)
        if self.problems:
            raise CourseInvalid(self.problems)
        return CourseSource(self.root, manifest, tuple(copies), tuple(assignments))

    # -- files ------------------------------------------------------------------------------

    def _is_file(self, path: str) -> bool:
        return not self._symlink_in(path) and (self.root / path).is_file()

    def _symlink_in(self, path: str) -> str | None:
        parts = path.split("/")
        for i in range(1, len(parts) + 1):
            if (self.root.joinpath(*parts[:i])).is_symlink():
                return "/".join(parts[:i])
        return None

    def _present(self, path: str, listed_in: str, directory_ok: bool) -> bool:
        link = self._symlink_in(path)
        if link:
            self.problem(path, None, f"{link} is a symbolic link; courses hold plain files only")
            return False
        full = self.root / path
        if full.is_file() or (directory_ok and full.is_dir()):
            return True
        what = "file or directory" if directory_ok else "file"
        self.problem(path, None, f"listed in {MANIFEST} ({listed_in}), but no such {what}")
        return False

    def _expand(self, path: str, listed_in: str) -> list[str]:
        """A listed file, or every file under a listed directory."""
        if not self._present(path, listed_in, directory_ok=True):
            return []
        full = self.root / path
        if full.is_file():
            return [path]
        found = []
        for item in sorted(full.rglob("*")):
            rel = item.relative_to(self.root).as_posix()
            if item.is_symlink():
                self.problem(rel, None, "is a symbolic link; courses hold plain files only")
            elif item.is_file():
                found.append(rel)
        if not found:
            self.problem(path, None, f"listed in {MANIFEST} ({listed_in}), but holds no files")
        return found

    def _check_destinations(self, copies: list[tuple[str, str]], assignments: list) -> None:
        """Every file of the edition has its own path, and no path is both file and directory."""
        owner: dict[str, str] = {}
        pairs = copies + [
            (nb.path, a.spec.release_path(nb.path)) for a in assignments for nb in a.notebooks
        ]
        for src, dst in dict.fromkeys(pairs):
            if dst == EDITION_INDEX:
                self.problem(src, None, f"{EDITION_INDEX} is reserved for the edition's index")
            elif dst in owner:
                self.problem(src, None, f"would be given to learners as {dst}, like {owner[dst]}")
            else:
                owner[dst] = src
        for dst, src in owner.items():
            parts = dst.split("/")
            for i in range(1, len(parts)):
                clash = "/".join(parts[:i])
                if clash in owner:
                    self.problem(
                        src,
                        None,
                        f"would be given to learners as {dst}, but {clash} is a file there "
                        f"(from {owner[clash]})",
                    )

    # -- notebooks --------------------------------------------------------------------------

    def _notebook_data(self, path: str) -> dict | None:
        """The notebook as JSON if it is a valid v4 notebook with an allowed kernel."""
        try:
            text = (self.root / path).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.problem(path, None, "not UTF-8 text")
            return None
        try:
            data = json.loads(text)
        except RecursionError:
            self.problem(path, None, "not valid notebook JSON: nested too deeply")
            return None
        except json.JSONDecodeError as e:
            self.problem(
                path, None, f"not valid notebook JSON: {e.msg} (line {e.lineno}, column {e.colno})"
            )
            return None
        if not isinstance(data, dict) or data.get("nbformat") != 4:
            version = data.get("nbformat") if isinstance(data, dict) else None
            self.problem(path, None, f"not a Jupyter notebook in format 4 (nbformat: {version!r})")
            return None
        errors = list(iter_validate(data))
        for error in errors:
            cell, message = _schema_problem(error)
            self.problem(path, cell, f"not a valid notebook: {message}")
        kernelspec = data.get("metadata", {}).get("kernelspec")
        name = kernelspec.get("name") if isinstance(kernelspec, dict) else None
        allowed = ", ".join(sorted(self.kernels))
        if name is None:
            self.problem(path, None, f"has no kernelspec; use one of: {allowed}")
        elif name not in self.kernels:
            self.problem(
                path, None, f"kernel {name!r} is not available here; use one of: {allowed}"
            )
        return None if errors or name not in self.kernels else data

    def _check_as_is(self, path: str) -> None:
        """Files given as they are must not carry nbgrader solutions or hidden tests."""
        if path.endswith(".ipynb"):
            data = self._notebook_data(path)
            for i, cell in enumerate(data["cells"] if data else []):
                meta = cell.get("metadata", {}).get("nbgrader")
                if isinstance(meta, dict) and meta.get("solution"):
                    self.problem(path, cell_label(i), f"is an nbgrader solution cell; {AS_IS}")
                text = json.dumps(cell, ensure_ascii=False)
                for marker in LEAK_MARKERS:
                    if marker in text:
                        self.problem(path, cell_label(i), f"contains {marker!r}; {AS_IS}")
            return
        raw = (self.root / path).read_bytes()
        for marker in LEAK_MARKERS:
            if marker.encode() in raw:
                self.problem(
                    path, None, f"contains {marker!r}; this file is given to learners as it is"
                )

    def _assignment(self, spec: AssignmentSpec) -> AssignmentSource:
        notebooks = []
        counted = 0  # notebooks whose points are known
        for path in spec.notebooks:
            if not self._present(
                path, f"the notebooks of assignment {spec.name!r}", directory_ok=False
            ):
                continue
            before = len(self.problems)
            data = self._notebook_data(path)
            if data is None:
                continue
            # read exactly as nbgrader reads it (nbconvert's from_filename)
            nb = nbformat.reads((self.root / path).read_text(encoding="utf-8"), as_version=4)
            points = self._check_nbgrader(path, nb)
            if len(self.problems) == before:
                counted += 1
                self._try_release(path, nb)
            notebooks.append(SourceNotebook(path, nb, points))
        total = sum(nb.points for nb in notebooks)
        complete = bool(spec.notebooks) and counted == len(spec.notebooks)
        if complete and spec.points and not math.isclose(total, spec.points):
            detail = ", ".join(f"{nb.path}: {nb.points:g}" for nb in notebooks)
            message = f"assignment {spec.name!r} has points: {spec.points:g}, but its notebooks' "
            self.problem(MANIFEST, None, f"{message}nbgrader points add up to {total:g} ({detail})")
        return AssignmentSource(spec, tuple(notebooks))

    def _check_nbgrader(self, path: str, nb: NotebookNode) -> float:
        """nbgrader's metadata rules, every broken one reported; returns the notebook's points."""
        ids: dict[str, str] = {}
        points = 0.0
        graded = 0
        for i, cell in enumerate(nb.cells):
            label = cell_label(i)
            before = len(self.problems)
            self._check_regions(path, label, cell)
            if cell.cell_type == "code" and AUTOTEST in cell.source:
                message = "directive, which needs a running kernel to expand; write the tests out"
                self.problem(path, label, f"uses nbgrader's {AUTOTEST} {message}")
            meta = cell.metadata.get("nbgrader")
            if meta is None:
                continue
            if not isinstance(meta, dict):
                self.problem(path, label, "nbgrader metadata must be a mapping")
                continue
            grade, task = bool(is_grade(cell)), bool(is_task(cell))
            if is_solution(cell) and cell.get("attachments"):
                message = "has attachments, which nbgrader keeps in the release; embed them instead"
                self.problem(path, label, f"is an nbgrader solution cell and {message}")
            if grade or is_solution(cell) or is_locked(cell):
                grade_id = meta.get("grade_id")
                if not grade_id:
                    self.problem(
                        path,
                        label,
                        "is an nbgrader grade, solution or read-only cell without a grade_id",
                    )
                elif grade_id in ids:
                    self.problem(
                        path, label, f"grade_id {grade_id!r} is already used by {ids[grade_id]}"
                    )
                else:
                    ids[grade_id] = label
            if "points" in meta:
                value = meta["points"]
                if not (grade or task):
                    self.problem(path, label, f"has points ({value!r}) but is not a graded cell")
                elif isinstance(value, bool) or not isinstance(value, int | float):
                    self.problem(path, label, f"points must be a number, not {value!r}")
                elif not math.isfinite(value) or value < 0:
                    self.problem(path, label, f"points must be zero or more, not {value!r}")
                else:
                    points += value
            elif grade or task:
                self.problem(path, label, "is a graded cell without points")
            graded += grade or task
            if len(self.problems) == before:
                try:
                    self.metadata_validator.validate_cell(cell)
                except (ValidationError, SchemaMismatchError) as e:
                    message = getattr(e, "message", None) or str(e)
                    self.problem(path, label, f"nbgrader metadata: {message.splitlines()[0]}")
        if not graded:
            self.problem(
                path, None, "has no graded cells (nbgrader grade or task cells with points)"
            )
        return points

    def _check_regions(self, path: str, label: str, cell: NotebookNode) -> None:
        """Region markers sit in the kind of cell nbgrader clears them from, and are closed."""
        for begin, end, kind, allowed in REGIONS:
            inside = found = False
            for line in cell.source.split("\n"):
                if begin in line:
                    if inside:
                        self.problem(path, label, f"nested {begin!r}")
                    inside = found = True
                elif end in line:
                    inside = False
            if inside:
                self.problem(path, label, f"{begin!r} has no matching {end!r}")
            if found and not allowed(cell):
                self.problem(
                    path, label, f"has a {begin!r} region but is not an nbgrader {kind} cell"
                )

    def _try_release(self, path: str, nb: NotebookNode) -> None:
        """Anything else nbgrader itself would refuse while releasing."""
        from .edition import release_notebook

        try:
            release_notebook(nb)
        except Exception as e:  # nbgrader raises RuntimeError, ValueError, ValidationError...
            self.problem(path, None, f"nbgrader could not make its release version: {e}")


def _schema_problem(error: Any) -> tuple[str | None, str]:
    """(cell, message) for a notebook schema error, choosing the branch of a oneOf that
    matches the cell's or output's declared type."""
    instance = error.instance
    if error.context and isinstance(instance, dict):
        branches: dict[Any, list] = defaultdict(list)
        for sub in error.context:
            branches[sub.relative_schema_path[0]].append(sub)
        for key in ("cell_type", "output_type"):
            if key in instance and all(
                any(list(s.absolute_path)[-1:] == [key] for s in subs) for subs in branches.values()
            ):
                return _where(error.absolute_path, f"{key} {instance[key]!r} is not a known one")
        for subs in branches.values():
            if not any(
                list(s.absolute_path)[-1:] in (["cell_type"], ["output_type"]) for s in subs
            ):
                error = subs[0]
                break
    message = error.message if len(error.message) < 200 else error.message[:200] + "..."
    return _where(error.absolute_path, message)


def _where(path: Any, message: str) -> tuple[str | None, str]:
    parts = list(path)
    if len(parts) >= 2 and parts[0] == "cells" and isinstance(parts[1], int):
        inner = ".".join(str(p) for p in parts[2:])
        return cell_label(parts[1]), f"{inner}: {message}" if inner else message
    inner = ".".join(str(p) for p in parts)
    return None, f"{inner}: {message}" if inner else message
