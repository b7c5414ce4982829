#!/usr/bin/env python
"""Course capability benchmark: catalog queries and course sync, on this machine.

    .venv/bin/python bench/courses.py          # everything, ~1 min on 2 cores

1. Catalog: 1,000 published courses and 20,000 course roles (2,000 users) bulk-inserted
   into the service's tables (after its real migrations), on SQLite and on PostgreSQL
   (a fresh database ``mh_bench_<random>``, dropped at the end). The real
   ``CourseManager.catalog`` / ``roles_of`` calls are timed (p50, p99), and every SQL
   statement they run is EXPLAINed: a full scan of a per-user table is reported.
2. HTTP: the real platform (``mentorhub demo``, SQLite) with the same catalog put into
   its service database; ``GET /services/mentorhub/api/courses`` with a learner's token,
   through the proxy and straight to the service.
3. Sync: a 50-notebook course published with ``mentorhub course publish``; a learner's
   first sync and an update (10 changed, 5 new, 3 of the changed edited by the learner),
   done by the server extension's own ``CourseWork.sync`` against the real service, and
   by ``sync_course`` alone from memory; beside it nbgitpuller's ``GitPuller`` cloning and
   pulling the same notebooks (with the same learner edits) from a local bare repository.

Prints tables with the machine's details and writes bench/results/courses-<time>.json.
Every process, temporary directory and database made here is removed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path

import psycopg
import requests
from sqlalchemy import Engine, event, select, text

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
BIN = Path(sys.prefix) / "bin"
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(HERE))
from course_data import (  # noqa: E402
    LEARNER_NOTE,
    RARE_WORD,
    Catalog,
    CourseFiles,
    learner_edit,
    make_course,
    populate_catalog,
    version_two,
)
from gitserver import serve_git  # noqa: E402
from hubtools import Hub, hub_processes  # noqa: E402
from mentorhub_server.client import ServiceClient  # noqa: E402
from mentorhub_server.courses import CourseWork  # noqa: E402
from mentorhub_server.sync import RemoteFile, sync_course  # noqa: E402
from mentorhub_service.courses import CourseManager  # noqa: E402
from mentorhub_service.db import Database, make_engine, upgrade  # noqa: E402
from mentorhub_service.orm import Course, CourseRole, Role  # noqa: E402
from mentorhub_service.permissions import Caller  # noqa: E402
from mentorhub_service.publisher import Publisher  # noqa: E402

PG_ADMIN = os.environ.get("MENTORHUB_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
NBGITPULLER_DIR = Path.home() / ".cache" / "mentorhub-bench" / "nbgitpuller"
SERVICE = "/services/mentorhub/api"
SLUG = "bench-sync"
# tables whose rows grow with users and enrolments; a full scan of one is a finding
PER_USER_TABLES = ("course_roles", "enrolment_requests")
CATALOG = [  # (label, CourseManager.catalog kwargs)
    ("listing, page 1", {}),
    ("listing, page 20", {"offset": 950}),
    (f"text '{RARE_WORD.lower()}' (1%)", {"q": RARE_WORD.lower()}),
    ("tag 'statistics'", {"tags": ["statistics"]}),
    ("text 'data' + tag 'python'", {"q": "data", "tags": ["python"]}),
]
LOOKUPS = ["roles_of(user)", "edition(course) [sync]", "roster(course) [staff]"]
LABELS = [label for label, _ in CATALOG] + LOOKUPS
SHOWN_PLANS = ("tag 'statistics'", "roles_of(user)", "edition(course) [sync]")


def log(s: str = "") -> None:
    print(s, flush=True)


def pct(xs: list[float]) -> dict:
    xs = sorted(xs)
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return {"n": len(xs), "p50": statistics.median(xs), "p99": q[98], "min": xs[0], "max": xs[-1]}


def mid(xs: list[float]) -> dict:
    return {
        "n": len(xs),
        "median": statistics.median(xs),
        "min": min(xs),
        "max": max(xs),
        "all": xs,
    }


# --- 1. catalog on the managers ------------------------------------------------------------


def manager_calls(engine: Engine, cat: Catalog, editions: Path) -> dict[str, tuple]:
    """label -> (call(i), size(result)): the real manager calls, for a different user each i.

    Besides the catalog: ``roles_of`` (every /api/me), ``Publisher.edition`` (what each
    sync asks first; each file download runs the same lookups) and ``roster`` (staff).
    """
    db = Database(engine)
    courses = CourseManager(db)
    publisher = Publisher(db, courses, editions)
    users = cat.users[:]
    random.Random(3).shuffle(users)
    with engine.connect() as conn:
        rows = conn.execute(
            select(CourseRole.username, Course.slug, CourseRole.role)
            .join(Course)
            .order_by(CourseRole.id)
        ).all()
    learner_in = {u: slug for u, slug, role in reversed(rows) if role == Role.learner}
    teaches = {u: slug for u, slug, role in reversed(rows) if role == Role.instructor}
    learners, staff = sorted(learner_in), sorted(teaches)
    random.Random(4).shuffle(learners)
    calls: dict[str, tuple] = {}
    for label, kwargs in CATALOG:
        calls[label] = (
            lambda i, k=kwargs: courses.catalog(users[i % len(users)], **k),
            lambda r: r["total"],
        )
    calls["roles_of(user)"] = (lambda i: courses.roles_of(users[i % len(users)]), len)
    calls["edition(course) [sync]"] = (
        lambda i: publisher.edition(
            Caller(learners[i % len(learners)]), learner_in[learners[i % len(learners)]]
        ),
        lambda r: len(r["files"]),
    )
    calls["roster(course) [staff]"] = (
        lambda i: courses.roster(Caller(staff[i % len(staff)]), teaches[staff[i % len(staff)]]),
        lambda r: len(r["members"]),
    )
    return calls


def time_calls(calls: dict[str, tuple], n: int) -> dict:
    """Each call ``n`` times (after 10 untimed); 'matches' is the size of the last result."""
    out = {}
    for label, (call, size) in calls.items():
        for i in range(10):
            call(i)
        times = []
        for i in range(n):
            t = time.perf_counter()
            result = call(i)
            times.append((time.perf_counter() - t) * 1000)
        out[label] = {**pct(times), "matches": size(result)}
    return out


def capture_sql(engine: Engine, call) -> list[tuple[str, object]]:
    """The statements (with parameters) that ``call()`` sends to the database."""
    seen: list[tuple[str, object]] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", listener)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    return [(s, p) for s, p in seen if s.lstrip().upper().startswith("SELECT")]


def scans(plan: list[str], dialect: str) -> list[tuple[str, str, str | None]]:
    """(kind, table, index) for every table access in a plan; kind 'full' or 'index'."""
    out = []
    heap = None  # PostgreSQL: the table of the Bitmap Heap Scan above a Bitmap Index Scan
    for line in plan:
        words = line.strip().lstrip("->").split()
        if dialect == "postgresql":
            s = line.strip().lstrip("-> ")
            if s.startswith("Seq Scan on "):
                out.append(("full", s.split()[3], None))
            elif s.startswith(("Index Scan using ", "Index Only Scan using ")):
                i = words.index("using")
                out.append(("index", words[i + 3], words[i + 1]))
            elif s.startswith("Bitmap Heap Scan on "):
                heap = s.split()[4]
            elif s.startswith("Bitmap Index Scan on "):
                out.append(("index", heap or "?", s.split()[4]))
        else:
            if words[:1] == ["SCAN"]:
                covering = "USING" in words
                out.append(("full", words[1], words[-1] if covering else None))
            elif words[:1] == ["SEARCH"]:
                idx = words[words.index("INDEX") + 1] if "INDEX" in words else "rowid"
                out.append(("index", words[1], idx))
    return out


def explain(engine: Engine, calls: dict[str, tuple]) -> dict:
    """EXPLAIN each statement of each call; on PostgreSQL also with seq scans off, which
    tells a small table read whole by choice from one with no usable index."""
    dialect = engine.dialect.name
    out = {}
    for label, (call, _) in calls.items():
        statements = capture_sql(engine, lambda c=call: c(0))
        entries = []
        with engine.connect() as conn:
            for sql, params in statements:
                if dialect == "postgresql":
                    rows = conn.exec_driver_sql(
                        "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + sql, params
                    )
                    plan = [r[0] for r in rows]
                    conn.exec_driver_sql("SET enable_seqscan = off")
                    forced = [
                        r[0] for r in conn.exec_driver_sql("EXPLAIN (COSTS OFF) " + sql, params)
                    ]
                    conn.exec_driver_sql("RESET enable_seqscan")
                else:
                    plan = [r[3] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)]
                    forced = plan
                entries.append({
                    "sql": " ".join(sql.split())[:400], "plan": plan,
                    "scans": scans(plan, dialect), "scans_if_seqscan_off": scans(forced, dialect),
                })  # fmt: skip
            conn.rollback()
        out[label] = entries
    return out


def findings(plans: dict, dialect: str) -> list[str]:
    """Full scans worth knowing about: per-user tables always, course tables once."""
    notes = []
    for label, entries in plans.items():
        for k, e in enumerate(entries, 1):
            for kind, table, index in e["scans_if_seqscan_off"]:
                if kind != "full":
                    continue
                how = f" (whole index {index})" if index else ""
                if table in PER_USER_TABLES:
                    notes.append(
                        f"{label}, statement {k}: FULL SCAN of {table}{how}, "
                        "no usable index: grows with users"
                    )
                else:
                    notes.append(
                        f"{label}, statement {k}: full scan of {table}{how}: "
                        "grows with the number of courses"
                    )
    return sorted(set(notes))


def catalog_on(url: str, name: str, n: int) -> dict:
    engine = make_engine(url)
    try:
        t = time.perf_counter()
        upgrade(engine)
        t_mig = time.perf_counter() - t
        t = time.perf_counter()
        cat = populate_catalog(engine)
        t_pop = time.perf_counter() - t
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:  # what autovacuum would have done by now
                conn.execute(text("ANALYZE"))
        log(
            f"  [{name}] migrations {t_mig:.1f}s; {cat.courses} courses, {cat.roles} roles, "
            f"{len(cat.users)} users, {cat.tags} tags, {cat.requests} requests in {t_pop:.1f}s"
        )
        with tempfile.TemporaryDirectory() as editions:
            calls = manager_calls(engine, cat, Path(editions))
            times = time_calls(calls, n)
            plans = explain(engine, calls)
        return {
            "db": name,
            "migrate_s": t_mig,
            "populate_s": t_pop,
            "times_ms": times,
            "plans": plans,
            "findings": findings(plans, name),
        }
    finally:
        engine.dispose()


@contextlib.contextmanager
def new_pg_database():
    name = f"mh_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
        server = conn.execute("SHOW server_version").fetchone()[0]
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{name}", server
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the platform ------------------------------------------------------------------------------


def stop_hub(hub: Hub) -> None:
    if hub.proc is None:
        return
    with contextlib.suppress(Exception):
        hub.stop(timeout=60)
    for pid in hub_processes(hub.port + 2, hub.port + 1, hub.proc.pid):
        log(f"  killing leftover process {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def new_hub(root: Path, attempt: int) -> Hub:
    data = root / f"hub{attempt}" / "data"
    data.mkdir(parents=True)  # exists: hubtools leaves the demo accounts' homes alone
    hub = Hub(data)
    hub.env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MENTORHUB_", "JUPYTERHUB_"))
    }
    hub.env["PATH"] = f"{BIN}:{hub.env.get('PATH', '/usr/bin:/bin')}"
    return hub


def http_catalog(hub: Hub, token: str, n: int) -> dict:
    """GET the catalog ``n`` times per query, via the proxy and straight to the service."""
    s = requests.Session()
    s.headers["Authorization"] = f"token {token}"
    routes = {
        "proxy": f"{hub.url}{SERVICE}/courses",
        "direct": f"http://127.0.0.1:{hub.port + 3}{SERVICE}/courses",
    }
    queries = {
        f"text '{RARE_WORD.lower()}' (1%)": {"q": RARE_WORD.lower()},
        "listing, page 1": {},
        "tag 'statistics'": {"tag": "statistics"},
    }
    out: dict = {}
    for label, params in queries.items():
        out[label] = {}
        for route, url in routes.items():
            for _ in range(10):
                r = s.get(url, params=params, timeout=30)
                r.raise_for_status()
            times = []
            for _ in range(n):
                t = time.perf_counter()
                r = s.get(url, params=params, timeout=30)
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, r.text[:300]
            out[label][route] = {
                **pct(times),
                "matches": r.json()["total"],
                "bytes": len(r.content),
            }
    return out


# --- 2. sync -------------------------------------------------------------------------------------


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True,
        env={**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.org",
             "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.org"},
    ).stdout.strip()  # fmt: skip


def write_version(repo: Path, course: CourseFiles, message: str) -> None:
    for path, data in course.files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_bytes(data)
    (repo / "mentorhub.yaml").write_text(course.manifest(SLUG))
    if not (repo / ".git").exists():
        git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def publish(hub: Hub, token: str, repo: Path) -> float:
    env = {
        k: v for k, v in os.environ.items() if k not in ("JUPYTERHUB_API_TOKEN", "MENTORHUB_TOKEN")
    }
    t = time.perf_counter()
    r = subprocess.run(
        [str(BIN / "mentorhub"), "course", "publish", str(repo), "--hub-url", hub.url, "--token", token],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"publish failed: {r.stdout}{r.stderr}")
    return time.perf_counter() - t


def import_gitpuller():
    """nbgitpuller's GitPuller, installed on first use into a private folder (not into .venv,
    where its server extension would be enabled in every user server)."""
    try:
        from nbgitpuller.pull import GitPuller
    except ImportError:
        if not (NBGITPULLER_DIR / "nbgitpuller").exists():
            log(f"  installing nbgitpuller into {NBGITPULLER_DIR} (pip --target, --no-deps)")
            subprocess.run(
                [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target",
                 str(NBGITPULLER_DIR), "nbgitpuller"], check=True,
            )  # fmt: skip
        sys.path.insert(0, str(NBGITPULLER_DIR))
        from nbgitpuller.pull import GitPuller
    import nbgitpuller

    return GitPuller, getattr(nbgitpuller, "__version__", None) or _dist_version("nbgitpuller")


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, distribution

    with contextlib.suppress(PackageNotFoundError):
        return distribution(name).version
    for info in NBGITPULLER_DIR.glob(f"{name}-*.dist-info"):
        return info.name.split("-")[1].removesuffix(".dist-info")
    return None


def gitpuller_pull(GitPuller, url: str, target: Path) -> float:
    """What nbgitpuller's handler does per click: make a GitPuller, run its pull() through."""
    t = time.perf_counter()
    for _ in GitPuller(url, str(target), branch="main").pull():
        pass
    return time.perf_counter() - t


def ours_sync(work: CourseWork) -> tuple[float, dict]:
    t = time.perf_counter()
    report = asyncio.run(work.sync(SLUG))
    return time.perf_counter() - t, report


def local_sync(course_dir: Path, version: str, course: CourseFiles) -> float:
    files = [RemoteFile(p, hashlib.sha256(b).hexdigest()) for p, b in course.files.items()]
    t = time.perf_counter()
    sync_course(course_dir, version, files, course.files.__getitem__)
    return time.perf_counter() - t


@contextlib.contextmanager
def fsync_off():
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


def edit_as_learner(course_dir: Path, paths: list[str]) -> None:
    for p in paths:
        (course_dir / p).write_bytes(learner_edit((course_dir / p).read_bytes()))


def sync_bench(hub: Hub, tokens: dict[str, str], root: Path, reps: int) -> dict:
    GitPuller, ngp_version = import_gitpuller()
    v1 = make_course()
    changed = v1.lessons[2::5]  # 10 notebooks, one per unit
    edited = changed[:3]
    v2 = version_two(v1, changed)
    new = sorted(set(v2.files) - set(v1.files))
    repo = root / "repos" / SLUG
    repo.mkdir(parents=True)
    write_version(repo, v1, "version 1")
    bare = root / "repos" / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    file_url = f"file://{bare}"
    served = serve_git(repo, root / "repos" / "served")  # the same, over git's smart HTTP
    http_url = f"{served.url}/course.git"
    out: dict = {
        "course": {
            "notebooks": len(v1.files), "bytes": sum(map(len, v1.files.values())),
            "sizes_kb": sorted(round(len(b) / 1000) for b in v1.files.values()),
            "update": {"changed": len(changed), "new": len(new), "edited_by_learner": len(edited),
                       "bytes_new_or_changed": sum(len(v2.files[p]) for p in changed + new)},
        },
        "nbgitpuller_version": ngp_version, "reps": reps,
    }  # fmt: skip
    try:
        out["publish_v1_s"] = publish(hub, tokens["instructor"], repo)
        r = requests.post(
            f"{hub.url}{SERVICE}/courses/{SLUG}/enrolment",
            headers={"Authorization": f"token {tokens['learner1']}"},
            timeout=30,
        )
        assert r.status_code == 201, r.text
        client = ServiceClient(service_url=f"http://127.0.0.1:{hub.port + 3}")  # as in user servers
        os.environ["JUPYTERHUB_API_TOKEN"] = tokens["learner1"]  # what ServiceClient sends
        keys = ("ours", "local", "local_nofsync", "ngp_file", "ngp_http")
        times: dict[str, dict[str, list[float]]] = {k: {} for k in keys}
        dirs = {k: [root / k / f"rep{i}" for i in range(reps)] for k in keys}
        reports: dict[str, list[dict]] = {}

        def run(stage: str, i: int, version: str, course: CourseFiles) -> None:
            def ours() -> float:
                t, report = ours_sync(CourseWork(client, courses_dir=str(dirs["ours"][i])))
                reports.setdefault(stage, []).append(report)
                return t

            def local(fsync: bool) -> float:
                with contextlib.nullcontext() if fsync else fsync_off():
                    return local_sync(
                        dirs["local" if fsync else "local_nofsync"][i] / SLUG, version, course
                    )

            steps = {
                "ours": ours,
                "local": lambda: local(True),
                "local_nofsync": lambda: local(False),
                "ngp_file": lambda: gitpuller_pull(GitPuller, file_url, dirs["ngp_file"][i] / SLUG),
                "ngp_http": lambda: gitpuller_pull(GitPuller, http_url, dirs["ngp_http"][i] / SLUG),
            }
            for key in keys if i % 2 == 0 else keys[::-1]:  # alternate who goes first
                times[key].setdefault(stage, []).append(steps[key]())

        log(f"  first sync x{reps}")
        for i in range(reps):
            run("first", i, "1", v1)
        for k in keys:
            for d in dirs[k]:
                edit_as_learner(d / SLUG, edited)
        write_version(repo, v2, "version 2")
        subprocess.run(["git", "-C", str(repo), "push", "-q", str(bare), "main"], check=True)
        subprocess.run(
            [
                "git",
                "-C",
                str(repo),
                "push",
                "-q",
                str(root / "repos" / "served" / "course.git"),
                "main",
            ],
            check=True,
        )
        out["publish_v2_s"] = publish(hub, tokens["instructor"], repo)
        log(f"  update x{reps}")
        for i in range(reps):
            run("update", i, "2", v2)
        outcome = check_outcome(dirs, v2, edited, new, reports)
        log(f"  no-change sync x{reps}")
        for i in range(reps):
            run("nochange", i, "2", v2)
        out["times_s"] = {
            k: {stage: mid(v) for stage, v in stages.items()} for k, stages in times.items()
        }
        out["outcome"] = outcome
    finally:
        os.environ.pop("JUPYTERHUB_API_TOKEN", None)
        served.shutdown()
        served.server_close()
    return out


def check_outcome(dirs, v2: CourseFiles, edited, new, reports: dict[str, list[dict]]) -> dict:
    """What each side left in the learner's folder after the update (first repetition)."""
    out = {}
    rep = reports["update"][0]
    d = dirs["ours"][0] / SLUG
    out["ours"] = {
        "first_sync_added": len(reports["first"][0]["added"]),
        "added": len(rep["added"]), "updated": len(rep["updated"]), "kept_local": len(rep["kept_local"]),
        "learner_edits_kept": all(LEARNER_NOTE in (d / p).read_text() for p in edited),
        "upstream_beside_edits": all((d / sib).read_bytes() == v2.files[p] for p, sib in rep["kept_local"]),
        "others_equal_upstream": all((d / p).read_bytes() == v2.files[p] for p in v2.files if p not in edited),
    }  # fmt: skip
    for side in ("ngp_file", "ngp_http"):
        d = dirs[side][0] / SLUG
        out[side] = {
            "new_present": all((d / p).exists() for p in new),
            "learner_edits_kept": all(LEARNER_NOTE in (d / p).read_text() for p in edited),
            "upstream_merged_into_edits": all("Revised for the second version" in (d / p).read_text() for p in edited),
            "others_equal_upstream": all((d / p).read_bytes() == v2.files[p] for p in v2.files if p not in edited),
        }  # fmt: skip
    return out


# --- report ----------------------------------------------------------------------------------------


def machine() -> dict:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())  # fmt: skip
    mem = next(
        (
            ln.split()[1]
            for ln in Path("/proc/meminfo").read_text().splitlines()
            if ln.startswith("MemTotal")
        ),
        "0",
    )
    from importlib.metadata import version

    return {
        "cpu": cpu, "cpus": os.cpu_count(), "mem_gb": round(int(mem) / 2**20, 1),
        "kernel": platform.release(), "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": version("sqlalchemy"), "git": subprocess.run(["git", "--version"], capture_output=True,
                                                                    text=True).stdout.split()[-1],
        "loadavg": os.getloadavg(),
    }  # fmt: skip


def print_catalog(results: dict, n: int) -> None:
    dbs = [r for r in (results.get("catalog_sqlite"), results.get("catalog_postgresql")) if r]
    if not dbs:
        return
    log(
        f"\nCatalog and lookups: the managers' calls, {n} each, ms "
        "(1,000 courses, 20,000 course roles, 2,000 users)"
        + (
            f"; PostgreSQL {results['postgresql_version']}"
            if "postgresql_version" in results
            else ""
        )
    )
    head = f"{'query':30} {'matches':>7}" + "".join(
        f" {r['db'] + ' p50':>15} {'p99':>7}" for r in dbs
    )
    log(head)
    for label in LABELS:
        row = f"{label:30} {dbs[0]['times_ms'][label]['matches']:>7}"
        for r in dbs:
            t = r["times_ms"][label]
            row += f" {t['p50']:>15.2f} {t['p99']:>7.2f}"
        log(row)
    for r in dbs:
        log(f"\nQuery plans ({r['db']}):")
        for label in SHOWN_PLANS:
            for k, e in enumerate(r["plans"][label], 1):
                desc = ", ".join(
                    f"{kind} {tbl}" + (f" via {idx}" if idx else "")
                    for kind, tbl, idx in e["scans"]
                )
                log(f"  {label}, statement {k}: {desc}")
        for note in r["findings"] or ["no full scan of a per-user table"]:
            log(f"  * {note}")


def print_http(h: dict, n: int) -> None:
    log(f"\nHTTP GET {SERVICE}/courses (SQLite, learner1's token, {n} requests each, ms)")
    log(
        f"{'query':30} {'matches':>7} {'via proxy p50':>14} {'p99':>7} {'direct p50':>11} {'p99':>7}"
    )
    for label, routes in h.items():
        p, d = routes["proxy"], routes["direct"]
        log(
            f"{label:30} {p['matches']:>7} {p['p50']:>14.2f} {p['p99']:>7.2f} {d['p50']:>11.2f} {d['p99']:>7.2f}"
        )


def print_sync(s: dict) -> None:
    c = s["course"]
    u = c["update"]
    log(
        f"\nCourse sync: {c['notebooks']} notebooks, {c['bytes'] / 1e6:.1f} MB "
        f"({min(c['sizes_kb'])}-{max(c['sizes_kb'])} KB each); update: {u['changed']} changed "
        f"({u['edited_by_learner']} of them edited by the learner), {u['new']} new; "
        f"seconds, median of {s['reps']} (min-max)"
    )
    cols = [
        ("ours", "ours: CourseWork.sync via service"),
        ("local", "ours: sync_course, from memory"),
        ("local_nofsync", "  same, fsync off (diagnostic)"),
        ("ngp_file", f"nbgitpuller {s['nbgitpuller_version']}, file://"),
        ("ngp_http", "nbgitpuller, git smart HTTP"),
    ]
    stages = [("first", "first sync"), ("update", "update"), ("nochange", "no change")]
    log(f"{'':36}" + "".join(f" {name:>18}" for _, name in stages))
    for key, name in cols:
        row = f"{name:36}"
        for stage, _ in stages:
            t = s["times_s"][key][stage]
            row += f" {t['median']:>7.3f} ({t['min']:.2f}-{t['max']:.2f})"
        log(row)
    log("ratio ours/nbgitpuller (medians):")
    for key, name in (
        ("ours", "CourseWork.sync via service"),
        ("local", "sync_course from memory"),
    ):
        parts = []
        for stage, label in stages:
            a = s["times_s"][key][stage]["median"]
            parts.append(
                f"{label} {a / s['times_s']['ngp_file'][stage]['median']:.2f}"
                f" (vs http {a / s['times_s']['ngp_http'][stage]['median']:.2f})"
            )
        log(f"  {name:30} " + ", ".join(parts))
    log(f"publish with the CLI: v1 {s['publish_v1_s']:.1f}s, v2 {s['publish_v2_s']:.1f}s")
    log("after the update (first repetition):")
    for side, o in s["outcome"].items():
        log(f"  {side}: " + ", ".join(f"{k}={v}" for k, v in o.items()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--parts", default="sqlite,postgresql,http,sync", help="comma-separated (default: all)"
    )
    p.add_argument("-n", type=int, default=200, help="timed calls per catalog query (default 200)")
    p.add_argument("--reps", type=int, default=10, help="repetitions of each sync (default 10)")
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    parts = {x.strip() for x in args.parts.split(",") if x.strip()}
    if ("http" in parts or "sync" in parts) and os.geteuid() != 0:
        log("note: not root; mentorhub demo runs in single-account mode")
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    results: dict = {
        "when": stamp,
        "machine": machine(),
        "params": {"n": args.n, "reps": args.reps},
    }
    m = results["machine"]
    log(
        f"machine: {m['cpu']}, {m['cpus']} cpus, {m['mem_gb']} GB, Linux {m['kernel']}; Python {m['python']}, "
        f"SQLite {m['sqlite']}, SQLAlchemy {m['sqlalchemy']}, git {m['git']}; "
        f"load average {m['loadavg'][0]:.2f} {m['loadavg'][1]:.2f} {m['loadavg'][2]:.2f}"
    )
    root = Path(tempfile.mkdtemp(prefix="mh-bench-courses-"))
    hub: Hub | None = None

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    code = 0
    t_all = time.perf_counter()
    results["loadavg"] = {}

    def load(part: str) -> None:
        results["loadavg"][part] = os.getloadavg()[0]

    try:
        if "sqlite" in parts:
            load("sqlite")
            log("[catalog] SQLite")
            results["catalog_sqlite"] = catalog_on(
                f"sqlite:///{root / 'catalog.sqlite'}", "sqlite", args.n
            )
        if "postgresql" in parts:
            load("postgresql")
            log("[catalog] PostgreSQL")
            try:
                with new_pg_database() as (url, server):
                    results["postgresql_version"] = server
                    results["catalog_postgresql"] = catalog_on(url, "postgresql", args.n)
            except psycopg.OperationalError as e:
                log(f"  PostgreSQL unreachable at {PG_ADMIN}, skipped: {e}")
        if parts & {"http", "sync"}:
            for attempt in range(3):
                hub = new_hub(root, attempt)
                log(f"[platform] mentorhub demo on port {hub.port}")
                t = time.perf_counter()
                try:
                    hub.start(timeout=120)
                    break
                except (RuntimeError, TimeoutError):
                    # a port of the block was taken meanwhile (free_port_block only looks)
                    if attempt == 2 or "Address already in use" not in hub.log():
                        raise
                    log("  a port was taken meanwhile; again on other ports")
                    stop_hub(hub)
            tokens = {u: hub.token(hub.login(u)) for u in ("instructor", "learner1")}
            results["hub_start_s"] = time.perf_counter() - t
            log(f"  up in {results['hub_start_s']:.1f}s")
            if "http" in parts:
                # the demo course is seeded once the service is up; then add the catalog
                deadline = time.monotonic() + 60
                h = {"Authorization": f"token {tokens['learner1']}"}
                while (
                    requests.get(
                        f"{hub.url}{SERVICE}/courses/intro-python", headers=h, timeout=10
                    ).status_code
                    != 200
                ):
                    if time.monotonic() > deadline:
                        raise TimeoutError("the demo course was not published")
                    time.sleep(0.2)
                engine = make_engine(f"sqlite:///{hub.data_dir / 'mentorhub.sqlite'}")
                cat = populate_catalog(engine)
                engine.dispose()
                log(f"  service database: +{cat.courses} courses, +{cat.roles} roles; timing HTTP")
                load("http")
                results["http"] = http_catalog(hub, tokens["learner1"], args.n)
            if "sync" in parts:
                load("sync")
                log("[sync]")
                results["sync"] = sync_bench(hub, tokens, root, args.reps)
    except BaseException as e:
        code = 130 if isinstance(e, KeyboardInterrupt) else 1
        log(f"bench failed: {type(e).__name__}: {e}")
        if hub is not None and hub.log_path.exists():
            shutil.copy(hub.log_path, RESULTS / f"courses-{stamp}-hub.log")
            log(f"hub log: bench/results/courses-{stamp}-hub.log")
        if code == 1:
            import traceback

            traceback.print_exc()
    finally:
        if hub is not None:
            stop_hub(hub)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["total_s"] = time.perf_counter() - t_all
    load("end")

    print_catalog(results, args.n)
    if "http" in results:
        print_http(results["http"], args.n)
    if "sync" in results:
        print_sync(results["sync"])
    busy = {k: v for k, v in results["loadavg"].items() if v > (os.cpu_count() or 1)}
    log(
        "\nload average (1 min) before each part: "
        + ", ".join(f"{k} {v:.1f}" for k, v in results["loadavg"].items())
    )
    if busy:
        log(
            f"WARNING: the machine was busy (load above {os.cpu_count()} cpus at: {', '.join(busy)}); "
            "other work inflates these numbers, the p99s most: run again on an idle machine"
        )
    out = RESULTS / f"courses-{stamp}.json"
    out.write_text(json.dumps(results, indent=1, default=str))
    log(f"\ntotal {results['total_s']:.0f}s; results: {out.relative_to(REPO)}")
    return code


if __name__ == "__main__":
    sys.exit(main())
