"""The learner edition of a validated course: what learners receive, and nothing more.

Lessons and extra files are copied byte for byte. Each assignment notebook becomes its nbgrader
release version, made in process by the preprocessors ``nbgrader generate_assignment`` chains,
in its order, through the same nbconvert ``NotebookExporter``; nothing is executed. Three steps
of that chain are left out, none of which changes what learners get:

- ``IncludeHeaderFooter`` adds nothing unless a header or footer notebook is configured;
- ``InstantiateTests`` expands ``AUTOTEST`` directives by running a kernel (``load_course``
  refuses notebooks that use them, so here it would do nothing);
- ``SaveCells`` records the cells in nbgrader's gradebook database, not in the notebook.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nbconvert.exporters import NotebookExporter
from nbformat import NotebookNode
from nbgrader.converters.generate_assignment import GenerateAssignment
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    IncludeHeaderFooter,
    InstantiateTests,
    LockCells,
    SaveCells,
)
from traitlets.config import Config

from .validate import EDITION_INDEX, LEAK_MARKERS

if TYPE_CHECKING:
    from .validate import CourseSource

EDITION_FORMAT = 1
LEFT_OUT = (IncludeHeaderFooter, InstantiateTests, SaveCells)
# Preprocessors known to work on the notebook alone: no kernel, no files, no database.
NOTEBOOK_ONLY = (
    LockCells,
    ClearSolutions,
    ClearOutput,
    CheckCellMetadata,
    ComputeChecksums,
    ClearHiddenTests,
    ClearMarkScheme,
)


@dataclass(frozen=True)
class Edition:
    """What was built: every file's sha256 by its path in the edition, and the public manifest."""

    files: dict[str, str]
    manifest: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"format": EDITION_FORMAT, "course": self.manifest, "files": self.files}


def release_preprocessors() -> list[type]:
    """nbgrader generate_assignment's chain, in its order, minus the steps in LEFT_OUT.

    Fails loudly if an nbgrader upgrade adds a step we have not vetted, rather than
    releasing something different from what nbgrader would.
    """
    chain = GenerateAssignment.class_traits()["preprocessors"].default()
    unknown = [p for p in chain if p not in LEFT_OUT and p not in NOTEBOOK_ONLY]
    if unknown:
        raise RuntimeError(f"nbgrader's release chain has steps not vetted here: {unknown}")
    return [p for p in chain if p not in LEFT_OUT]


def release_notebook(source: NotebookNode) -> str:
    """The nbgrader release version of a source notebook, as the text of an .ipynb file.

    ``source`` is not modified. Raises what nbgrader raises for notebooks it refuses.
    """
    exporter = NotebookExporter(config=Config({"Exporter": {"default_preprocessors": []}}))
    for preprocessor in release_preprocessors():
        exporter.register_preprocessor(preprocessor)
    output, _ = exporter.from_notebook_node(source, resources={})
    return output


def build_learner_edition(course: CourseSource, out_dir: Path) -> Edition:
    """Write the learner edition of ``course`` into ``out_dir`` (missing or empty), with its
    index ``edition.json``, and return it."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    files: dict[str, str] = {}

    def write(dst: str, data: bytes) -> None:
        parts = dst.split("/")
        if dst in files or dst.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"refusing to write {dst!r}")  # load_course rules this out
        target = out_dir.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(target, "xb") as f:
            f.write(data)
        os.chmod(target, 0o644)
        files[dst] = hashlib.sha256(data).hexdigest()

    for src, dst in course.copies:
        write(dst, course.root.joinpath(*src.split("/")).read_bytes())
    for assignment in course.assignments:
        for nb in assignment.notebooks:
            release = release_notebook(nb.notebook)
            leaked = [m for m in LEAK_MARKERS if m in release]
            if leaked:  # nbgrader clears these regions; never ship one if that ever changes
                raise RuntimeError(f"release of {nb.path} still holds {leaked}")
            write(assignment.spec.release_path(nb.path), release.encode("utf-8"))

    edition = Edition(files=dict(sorted(files.items())), manifest=course.manifest.public())
    index = json.dumps(edition.to_json(), indent=1, ensure_ascii=False) + "\n"
    (out_dir / EDITION_INDEX).write_text(index, encoding="utf-8")
    return edition
