"""Synthetic data for bench/courses.py: a populated course catalog and a 50-notebook course.

Everything is made from a seeded ``random.Random``, so every run measures the same data.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import nbformat
from mentorhub_service.orm import (
    Course,
    CourseRole,
    CourseTag,
    CourseVersion,
    EnrolmentRequest,
    Policy,
    Role,
)
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session

# --- the catalog ------------------------------------------------------------------------------

PREFIXES = [
    "Introduction to", "Practical", "Applied", "Advanced", "Foundations of", "Hands-on",
    "A First Course in", "Topics in", "Modern", "Essential",
]  # fmt: skip
TOPICS = [
    "Python", "Data Analysis", "Machine Learning", "Statistics", "Web Development", "Databases",
    "Linear Algebra", "Calculus", "Physics Simulation", "Genomics", "Signal Processing",
    "Econometrics", "Visualization", "Optimization", "Numerical Methods", "Deep Learning",
    "Language Processing", "Computer Vision", "Time Series", "Geospatial Analysis",
    "Cloud Computing", "Cryptography", "Algorithms", "Graph Theory", "Probability",
    "Quantum Computing", "Bioinformatics", "Climate Modelling", "Finance", "Robotics",
]  # fmt: skip
SUFFIXES = ["", "with Python", "for Scientists", "in Jupyter", "for Engineers", "Workshop", "Lab"]
TAGS = [
    "beginner-friendly", "statistics", "machine-learning", "visualization", "math", "physics",
    "biology", "finance", "web", "databases", "r", "julia", "gpu", "nlp", "vision",
    "time-series", "geospatial", "cloud", "security", "algorithms", "graphs", "probability",
    "quantum", "climate", "robotics", "economics", "teaching", "workshop", "research",
]  # fmt: skip
FILLER = [
    "learn",
    "work",
    "with",
    "notebooks",
    "exercises",
    "projects",
    "real",
    "examples",
    "step",
    "by",
    "step",
    "weekly",
    "problem",
    "sets",
    "practice",
    "skills",
    "methods",
    "tools",
    "theory",
    "code",
    "review",
    "feedback",
    "mentors",
    "questions",
    "answers",
    "lectures",
    "readings",
    "labs",
    "final",
    "project",
    "peer",
    "discussion",
]  # noqa: SIM905
RARE_WORD = "Bayesian"  # in 1% of the titles, nowhere else


@dataclass
class Catalog:
    courses: int
    roles: int
    users: list[str]
    learners: list[str]
    tags: int
    requests: int
    matches: dict[str, int] = field(default_factory=dict)


def populate_catalog(
    engine: Engine, n_courses: int = 1000, n_users: int = 2000, seed: int = 1
) -> Catalog:
    """Bulk-insert ``n_courses`` published courses and 10 course roles per user.

    Users: 10% staff (``staffNNNN``: instructor of 5 courses, mentor in 5 more), the rest
    learners (``learner1..3`` as in the demo, then ``userNNNN``) in 10 courses each, picked
    with a skewed popularity. 10% of the courses take enrolment by approval and have
    pending requests. The schema must exist already (``mentorhub_service.db.upgrade``).
    """
    rng = random.Random(seed)
    n_staff = n_users // 10
    staff = [f"staff{i:04d}" for i in range(1, n_staff + 1)]
    learners = ["learner1", "learner2", "learner3"] + [
        f"user{i:04d}" for i in range(4, n_users - n_staff + 1)
    ]
    now = datetime.now(UTC)
    with Session(engine) as s, s.begin():
        base = s.scalar(select(func.coalesce(func.max(Course.id), 0)))
        ids = list(range(base + 1, base + 1 + n_courses))
        roles: dict[tuple[int, str], Role] = {}
        for j, name in enumerate(staff):  # instructors: every course gets exactly one
            for cid in ids[j * 5 : j * 5 + 5]:
                roles[cid, name] = Role.instructor
        for name in staff:  # mentors: 5 other courses each
            picked = 0
            for cid in rng.sample(ids, 12):
                if picked < 5 and (cid, name) not in roles:
                    roles[cid, name] = Role.mentor
                    picked += 1
        rank = {cid: r for r, cid in enumerate(rng.sample(ids, len(ids)))}
        weights = [1 / (rank[cid] + 20) for cid in ids]
        for name in learners:
            mine: set[int] = set()
            while len(mine) < 10:
                mine.update(rng.choices(ids, weights, k=10 - len(mine)))
            for cid in mine:
                roles[cid, name] = Role.learner
        seats: dict[int, int] = {}
        for (cid, _), role in roles.items():
            seats[cid] = seats.get(cid, 0) + (role == Role.learner)

        courses, versions, tags = [], [], []
        approval = set(rng.sample(ids, n_courses // 10))
        for i, cid in enumerate(ids):
            topic = rng.choice(TOPICS)
            title = f"{rng.choice(PREFIXES)} {topic} {rng.choice(SUFFIXES)}".strip()
            if i % 100 == 42:
                title = f"{RARE_WORD} {title}"
            slug = f"c{i:04d}-" + "-".join(topic.lower().split())
            courses.append({
                "id": cid, "slug": slug, "title": title,
                "description": " ".join(rng.choices(FILLER, k=30)).capitalize() + ".",
                "created": now - timedelta(days=rng.randrange(700)),
                "level": rng.choice(["beginner", "intermediate", "advanced"]),
                "enrolment_policy": Policy.approval if cid in approval else Policy.open,
                "capacity": None if rng.random() < 0.8 else rng.choice([30, 100, 500]),
                "learners": seats.get(cid, 0), "mentoring_policy": "on-request",
                "source": f"https://git.example.org/courses/{slug}.git", "current_version": 1,
            })  # fmt: skip
            files = {f"lessons/{k:02d}.ipynb": _sha(f"{cid}-{k}") for k in range(1, 5)}
            versions.append({
                "course_id": cid, "number": 1, "commit": _sha(slug)[:40], "published_by": "staff",
                "published": now, "edition": {
                    "slug": slug, "title": title, "lessons": sorted(files), "assignments": [],
                    "files_sha256": files,
                },
            })  # fmt: skip
            chosen = set(rng.sample(TAGS, 2)) | ({"python"} if rng.random() < 0.5 else set())
            tags += [{"course_id": cid, "tag": t} for t in sorted(chosen)]
        role_rows = [
            {"course_id": cid, "username": u, "role": role, "created": now}
            for (cid, u), role in roles.items()
        ]
        rng.shuffle(role_rows)  # enrolments arrive over time, not course by course
        requests = []
        for cid in sorted(approval):
            for u in rng.sample(learners, 3):
                if (cid, u) not in roles:
                    requests.append({"course_id": cid, "username": u, "created": now})
        s.execute(insert(Course), courses)
        s.execute(insert(CourseVersion), versions)
        s.execute(insert(CourseTag), tags)
        for k in range(0, len(role_rows), 5000):
            s.execute(insert(CourseRole), role_rows[k : k + 5000])
        s.execute(insert(EnrolmentRequest), requests)
    return Catalog(
        courses=n_courses, roles=len(role_rows), users=staff + learners, learners=learners,
        tags=len(tags), requests=len(requests),
    )  # fmt: skip


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# --- a course of notebooks --------------------------------------------------------------------

KERNEL = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
WORDS = [
    "the",
    "value",
    "of",
    "each",
    "variable",
    "is",
    "kept",
    "in",
    "memory",
    "until",
    "the",
    "loop",
    "ends",
    "and",
    "the",
    "function",
    "returns",
    "a",
    "new",
    "list",
    "we",
    "plot",
    "the",
    "result",
    "compare",
    "the",
    "mean",
    "with",
    "the",
    "sample",
    "and",
    "check",
    "the",
    "error",
    "for",
    "every",
    "row",
    "of",
    "the",
    "table",
    "before",
    "we",
    "fit",
    "a",
    "model",
    "to",
    "the",
    "data",
]  # noqa: SIM905
NAMES = ["x", "y", "df", "values", "total", "result", "model", "sample", "rows", "scores"]
FUNCS = ["len", "sum", "sorted", "mean", "fit", "load", "clean", "plot", "summarise", "split"]


def _prose(rng: random.Random, n: int) -> str:
    words = rng.choices(WORDS, k=n)
    return " ".join(words).capitalize() + "."


def _code(rng: random.Random, lines: int) -> str:
    out = []
    for _ in range(lines):
        a, b = rng.sample(NAMES, 2)
        kind = rng.randrange(4)
        if kind == 0:
            out.append(f"{a} = {rng.choice(FUNCS)}({b}, {rng.randrange(100)})")
        elif kind == 1:
            out.append(f"for i in range({rng.randrange(2, 50)}):\n    {a}.append({b}[i] * i)")
        elif kind == 2:
            out.append(f"print(f'{a} = {{{a}!r}}')")
        else:
            out.append(f"# {_prose(rng, 8)}")
    return "\n".join(out)


def _html_table(rng: random.Random, rows: int) -> str:
    head = "".join(f"<th>{c}</th>" for c in ("", "name", "score", "mean", "count"))
    body = "".join(
        f"<tr><th>{r}</th><td>{rng.choice(NAMES)}</td><td>{rng.random():.4f}</td>"
        f"<td>{rng.gauss(50, 10):.2f}</td><td>{rng.randrange(1000)}</td></tr>"
        for r in range(rows)
    )
    return f'<table border="1" class="dataframe"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def make_notebook(rng: random.Random, title: str, target_bytes: int, outputs: str) -> str:
    """A lesson notebook of about ``target_bytes``, as Jupyter saves it.

    ``outputs``: "none" (sources only), "text" (printed output, HTML tables) or "images"
    (also PNG plots: random bytes, which compress like real ones).
    """
    nb = new_notebook(metadata={"kernelspec": KERNEL, "language_info": {"name": "python"}})
    nb.cells.append(new_markdown_cell(f"# {title}\n\n{_prose(rng, 40)}"))
    size, count = 400, 0
    while size < target_bytes:
        nb.cells.append(
            new_markdown_cell(f"## Step {len(nb.cells)}\n\n{_prose(rng, rng.randrange(20, 80))}")
        )
        count += 1
        cell = new_code_cell(_code(rng, rng.randrange(2, 10)), execution_count=None)
        if outputs != "none":
            cell.execution_count = count
            cell.outputs.append(new_output(
                "stream", name="stdout", text="\n".join(_prose(rng, 6) for _ in range(rng.randrange(1, 6))) + "\n",
            ))  # fmt: skip
            if rng.random() < 0.4:
                cell.outputs.append(new_output(
                    "execute_result", execution_count=count,
                    data={"text/plain": "<DataFrame>", "text/html": _html_table(rng, rng.randrange(5, 25))},
                ))  # fmt: skip
            if outputs == "images" and rng.random() < 0.5:
                png = rng.randbytes(rng.randrange(15_000, 45_000))
                cell.outputs.append(new_output(
                    "display_data", data={"image/png": _b64(png), "text/plain": "<Figure size 640x480>"},
                    metadata={"image/png": {"width": 640, "height": 480}},
                ))  # fmt: skip
        nb.cells.append(cell)
        size = sum(len(c.source) + 120 + _outputs_size(c) for c in nb.cells)
    for j, c in enumerate(nb.cells):
        c.id = f"cell-{j:03d}"
    return nbformat.writes(nb)


def _outputs_size(cell) -> int:
    n = 0
    for o in cell.get("outputs", []):
        n += len(o.get("text", "")) + sum(len(v) for v in o.get("data", {}).values()) + 80
    return n


def _b64(data: bytes) -> str:
    import base64

    return base64.b64encode(data).decode()


@dataclass
class CourseFiles:
    """The lessons of one version: path -> bytes, and the manifest that lists them."""

    files: dict[str, bytes]

    @property
    def lessons(self) -> list[str]:
        return sorted(self.files)

    def manifest(self, slug: str) -> str:
        lines = [
            f"slug: {slug}",
            "title: Scientific Python, a benchmark course",
            "description: Fifty lesson notebooks, some with outputs and plots.",
            "tags: [python, benchmark]",
            "level: beginner",
            "instructors: [instructor]",
            "enrolment:",
            "  policy: open",
            "mentoring:",
            "  policy: on-request",
            "lessons:",
        ] + [f"  - {p}" for p in self.lessons]
        return "\n".join(lines) + "\n"


def make_course(n: int = 50, seed: int = 7) -> CourseFiles:
    """``n`` lessons in units of 5: 40% small (3-15 KB, no outputs), 40% medium (15-60 KB,
    printed output and tables), 20% large (80-200 KB, with plots)."""
    rng = random.Random(seed)
    files = {}
    for i in range(n):
        kind = ("none", "text", "images")[0 if i % 5 in (0, 3) else 1 if i % 5 in (1, 4) else 2]
        target = {
            "none": rng.randrange(3_000, 15_000),
            "text": rng.randrange(15_000, 60_000),
            "images": rng.randrange(80_000, 200_000),
        }[kind]
        path = f"lessons/unit-{i // 5 + 1:02d}/{i % 5 + 1:02d}-lesson-{i + 1}.ipynb"
        files[path] = make_notebook(rng, f"Lesson {i + 1}", target, kind).encode()
    return CourseFiles(files)


def revise(text: bytes, seed: int) -> bytes:
    """Upstream's change to a notebook: a revised heading, and its last code cell redone."""
    rng = random.Random(seed)
    nb = nbformat.reads(text.decode(), as_version=4)
    nb.cells[0].source += "\n\n*Revised for the second version of the course.*"
    last = next(c for c in reversed(nb.cells) if c.cell_type == "code")
    last.source = _code(rng, 4) + "\n# tidied up in version 2"
    if last.outputs:
        last.outputs = [new_output("stream", name="stdout", text=_prose(rng, 12) + "\n")]
    return nbformat.writes(nb).encode()


LEARNER_NOTE = "My own notes: I tried this with my data and it worked."


def learner_edit(text: bytes) -> bytes:
    """What a learner does to a lesson: notes added to a markdown cell in the middle."""
    nb = nbformat.reads(text.decode(), as_version=4)
    middle = [c for c in nb.cells[1:-1] if c.cell_type == "markdown"] or nb.cells[:1]
    middle[len(middle) // 2].source += f"\n\n{LEARNER_NOTE}"
    return nbformat.writes(nb).encode()


def version_two(v1: CourseFiles, changed: list[str], n_new: int = 5, seed: int = 11) -> CourseFiles:
    """v1 with ``changed`` revised and ``n_new`` new lessons in a new unit."""
    rng = random.Random(seed)
    files = dict(v1.files)
    for k, path in enumerate(changed):
        files[path] = revise(files[path], seed + k)
    unit = max(int(p.split("/")[1].split("-")[1]) for p in files) + 1
    for i in range(n_new):
        kind = ("none", "text", "images")[i % 3]
        target = {"none": 8_000, "text": 40_000, "images": 120_000}[kind]
        path = f"lessons/unit-{unit:02d}/{i + 1:02d}-new-lesson.ipynb"
        files[path] = make_notebook(rng, f"New lesson {i + 1}", target, kind).encode()
    return CourseFiles(files)
