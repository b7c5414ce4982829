"""Course sync into a learner's folder: nbgitpuller's rule, safety, crash and concurrency.

Each test builds published versions from dicts with ``mh_version`` and syncs them into a
real folder; nothing is mocked but the download, which is a callable over those dicts.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mentorhub_server.sync import RemoteFile, SyncError, pending_update, sync_course

TMP_PREFIX = ".mentorhub-tmp-"


@dataclass
class Version:
    """A published version: its files, and a fetch that records what was downloaded."""

    version: str
    contents: dict[str, bytes]
    fetched: list[str] = field(default_factory=list)
    fail_after: int | None = None
    delay: float = 0.0

    @property
    def files(self) -> list[RemoteFile]:
        return [RemoteFile(p, hashlib.sha256(b).hexdigest()) for p, b in self.contents.items()]

    def fetch(self, path: str) -> bytes:
        if self.fail_after is not None and len(self.fetched) >= self.fail_after:
            raise ConnectionError("the service went away")
        self.fetched.append(path)
        time.sleep(self.delay)
        return self.contents[path]

    def sync(self, course: Path):
        return sync_course(course, self.version, self.files, self.fetch)


@pytest.fixture
def mh_version() -> Callable[..., Version]:
    """Factory: ``mh_version("v1", {"path": b"bytes"})`` is one published version."""

    def make(version: str, contents: dict[str, bytes], **kw) -> Version:
        return Version(version, dict(contents), **kw)

    return make


@pytest.fixture
def mh_course(tmp_path: Path) -> Path:
    """Where the learner's copy goes (``~/courses/<slug>``); it does not exist yet."""
    return tmp_path / "home" / "courses" / "intro"


V1 = {
    "lessons/01.ipynb": b'{"cells": ["one"]}',
    "assignments/ps1/ps1.ipynb": b'{"cells": ["ps1"]}',
    "data/iris.csv": b"a,b\n1,2\n",
}


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(TMP_PREFIX)]


def test_first_sync_writes_every_file(mh_course, mh_version):
    v1 = mh_version("v1", V1)
    report = v1.sync(mh_course)
    assert sorted(report.added) == sorted(V1)
    assert not (report.updated or report.unchanged or report.kept_local or report.restored)
    assert {p: (mh_course / p).read_bytes() for p in V1} == V1
    assert not temp_files(mh_course)
    assert not pending_update(mh_course, "v1")


def test_update_overwrites_untouched_changed_file(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    v2 = mh_version("v2", {**V1, "lessons/01.ipynb": b'{"cells": ["one, fixed"]}'})
    report = v2.sync(mh_course)
    assert report.updated == ["lessons/01.ipynb"]
    assert sorted(report.unchanged) == ["assignments/ps1/ps1.ipynb", "data/iris.csv"]
    assert v2.fetched == ["lessons/01.ipynb"]
    assert (mh_course / "lessons/01.ipynb").read_bytes() == b'{"cells": ["one, fixed"]}'


def test_learner_edit_is_kept_and_upstream_lands_beside_it(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    mine = mh_course / "lessons/01.ipynb"
    mine.write_bytes(b"my answers")
    v2 = mh_version("v2", {**V1, "lessons/01.ipynb": b"upstream v2"})
    report = v2.sync(mh_course)
    assert report.kept_local == [("lessons/01.ipynb", "lessons/01.upstream-v2.ipynb")]
    assert mine.read_bytes() == b"my answers"
    assert (mh_course / "lessons/01.upstream-v2.ipynb").read_bytes() == b"upstream v2"
    # the same version again: nothing new is written beside it
    again = mh_version("v2", v2.contents).sync(mh_course)
    assert again.kept_local == [] and "lessons/01.ipynb" in again.unchanged
    assert sorted(p.name for p in (mh_course / "lessons").iterdir()) == [
        "01.ipynb",
        "01.upstream-v2.ipynb",
    ]


def test_sibling_never_overwrites_an_existing_file(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    (mh_course / "lessons/01.ipynb").write_bytes(b"my answers")
    (mh_course / "lessons/01.upstream-v2.ipynb").write_bytes(b"something of mine")
    report = mh_version("v2", {**V1, "lessons/01.ipynb": b"upstream v2"}).sync(mh_course)
    assert report.kept_local == [("lessons/01.ipynb", "lessons/01.upstream-v2-2.ipynb")]
    assert (mh_course / "lessons/01.upstream-v2.ipynb").read_bytes() == b"something of mine"
    assert (mh_course / "lessons/01.upstream-v2-2.ipynb").read_bytes() == b"upstream v2"


def test_learner_created_file_with_new_upstream_name_is_kept(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    (mh_course / "lessons/02.ipynb").write_bytes(b"my own notes")
    (mh_course / "README").write_bytes(b"same bytes")
    v2 = mh_version("v2", {**V1, "lessons/02.ipynb": b"lesson two", "README": b"same bytes"})
    report = v2.sync(mh_course)
    assert report.kept_local == [("lessons/02.ipynb", "lessons/02.upstream-v2.ipynb")]
    assert (mh_course / "lessons/02.ipynb").read_bytes() == b"my own notes"
    assert "README" in report.unchanged  # already equal to upstream: now counted as synced
    report = mh_version("v3", {**v2.contents, "README": b"new readme"}).sync(mh_course)
    assert report.updated == ["README"]


def test_learner_saving_during_the_download_is_not_overwritten(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    mine = mh_course / "lessons/01.ipynb"
    v2 = mh_version("v2", {**V1, "lessons/01.ipynb": b"upstream v2"})
    download = v2.fetch

    def fetch_while_learner_saves(path: str) -> bytes:
        mine.write_bytes(b"saved just now")
        return download(path)

    report = sync_course(mh_course, "v2", v2.files, fetch_while_learner_saves)
    assert report.kept_local == [("lessons/01.ipynb", "lessons/01.upstream-v2.ipynb")]
    assert mine.read_bytes() == b"saved just now"


def test_unreadable_state_makes_every_existing_file_the_learners(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    (mh_course / ".mentorhub/sync.json").write_bytes(b"\xff garbage")
    report = mh_version("v2", {**V1, "data/iris.csv": b"new"}).sync(mh_course)
    assert report.kept_local == [("data/iris.csv", "data/iris.upstream-v2.csv")]
    assert (mh_course / "data/iris.csv").read_bytes() == V1["data/iris.csv"]


def test_file_where_the_course_needs_a_folder_is_refused(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    (mh_course / "extra").write_bytes(b"my file")
    v2 = mh_version("v2", {**V1, "data/new.csv": b"x", "extra/notes.md": b"notes"})
    with pytest.raises(SyncError, match="'extra' .* is a file"):
        v2.sync(mh_course)
    assert v2.fetched == [] and not (mh_course / "data/new.csv").exists()
    assert (mh_course / "extra").read_bytes() == b"my file"


def test_file_deleted_by_learner_is_restored(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    (mh_course / "data/iris.csv").unlink()
    report = mh_version("v2", V1).sync(mh_course)
    assert report.restored == ["data/iris.csv"]
    assert (mh_course / "data/iris.csv").read_bytes() == V1["data/iris.csv"]


def test_file_removed_upstream_is_left_in_place(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    v2 = {p: b for p, b in V1.items() if p != "data/iris.csv"}
    report = mh_version("v2", v2).sync(mh_course)
    assert report.removed_upstream == ["data/iris.csv"]
    assert (mh_course / "data/iris.csv").read_bytes() == V1["data/iris.csv"]
    assert mh_version("v3", v2).sync(mh_course).removed_upstream == []


def test_unchanged_upstream_is_neither_downloaded_nor_rewritten(mh_course, mh_version):
    mh_version("v1", V1).sync(mh_course)
    before = {p: (mh_course / p).stat().st_mtime_ns for p in V1}
    v2 = mh_version("v2", V1)
    assert sorted(v2.sync(mh_course).unchanged) == sorted(V1)
    assert v2.fetched == []
    assert {p: (mh_course / p).stat().st_mtime_ns for p in V1} == before


def test_files_follow_the_process_umask(mh_course, mh_version):
    old = os.umask(0o027)
    try:
        mh_version("v1", V1).sync(mh_course)
    finally:
        os.umask(old)
    assert (mh_course / "lessons/01.ipynb").stat().st_mode & 0o777 == 0o640
    assert (mh_course / "lessons").stat().st_mode & 0o777 == 0o750


BAD_PATHS = [
    "../x",
    "/etc/passwd",
    "a/../../b",
    ".mentorhub/sync.json",
    "a\\b",
    "",
    ".",
    "./a",
    "a//b",
    "a/",
    "a\x00b",
    "lessons/01.ipynb/inner",  # both a file and a folder
    f"{TMP_PREFIX}0123",
]


@pytest.mark.parametrize("bad", BAD_PATHS)
def test_bad_paths_are_refused_before_anything_is_written(mh_course, mh_version, bad):
    version = mh_version("v1", {**V1, bad: b"evil"})
    with pytest.raises(SyncError, match="bad file paths"):
        version.sync(mh_course)
    assert not mh_course.exists()
    assert version.fetched == []


def test_damaged_download_is_refused(mh_course, mh_version):
    v1 = mh_version("v1", {"a.txt": b"good"})
    files = [RemoteFile("a.txt", hashlib.sha256(b"something else").hexdigest())]
    with pytest.raises(SyncError, match="sha256 mismatch"):
        sync_course(mh_course, "v1", files, v1.fetch)
    assert not (mh_course / "a.txt").exists()
    assert not temp_files(mh_course)
    assert pending_update(mh_course, "v1")


@pytest.mark.parametrize("dangling", [False, True])
def test_symlink_at_target_is_never_written_through(mh_course, mh_version, tmp_path, dangling):
    outside = tmp_path / "outside.txt"
    if not dangling:
        outside.write_bytes(b"precious")
    mh_version("v1", V1).sync(mh_course)
    link = mh_course / "lessons/01.ipynb"
    link.unlink()
    link.symlink_to(outside)
    (mh_course / "lessons/new.ipynb").symlink_to(outside)
    v2 = {**V1, "lessons/01.ipynb": b"upstream v2", "lessons/new.ipynb": b"new"}
    report = mh_version("v2", v2).sync(mh_course)
    assert sorted(report.kept_local) == [
        ("lessons/01.ipynb", "lessons/01.upstream-v2.ipynb"),
        ("lessons/new.ipynb", "lessons/new.upstream-v2.ipynb"),
    ]
    assert link.is_symlink() and (mh_course / "lessons/new.ipynb").is_symlink()
    assert outside.read_bytes() == b"precious" if not dangling else not outside.exists()
    sibling = mh_course / "lessons/01.upstream-v2.ipynb"
    assert not sibling.is_symlink() and sibling.read_bytes() == b"upstream v2"


def test_symlinked_parent_is_refused_and_never_written_through(mh_course, mh_version, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "iris.csv").write_bytes(b"precious")
    mh_version("v1", V1).sync(mh_course)
    (mh_course / "data").rename(tmp_path / "moved-data")
    (mh_course / "data").symlink_to(outside)
    v2 = mh_version("v2", {**V1, "data/iris.csv": b"new", "data/more.csv": b"more"})
    with pytest.raises(SyncError, match="'data' .* symbolic link"):
        v2.sync(mh_course)
    assert sorted(p.name for p in outside.iterdir()) == ["iris.csv"]
    assert (outside / "iris.csv").read_bytes() == b"precious"
    assert v2.fetched == []
    assert pending_update(mh_course, "v2")


def test_interrupted_sync_loses_nothing_when_run_again(mh_course, mh_version):
    v1 = {f"lessons/{i:02}.ipynb": f"v1 {i}".encode() for i in range(10)}
    mh_version("v1", v1).sync(mh_course)
    (mh_course / "lessons/07.ipynb").write_bytes(b"my answers")
    v2 = {p: b.replace(b"v1", b"v2") for p, b in v1.items()} | {"new.txt": b"new"}
    with pytest.raises(SyncError, match="could not download"):
        mh_version("v2", v2, fail_after=5).sync(mh_course)
    assert pending_update(mh_course, "v2")
    assert not temp_files(mh_course)
    retry = mh_version("v2", v2)
    report = retry.sync(mh_course)
    assert len(retry.fetched) == 11 - 5  # what the first attempt finished is not fetched again
    assert report.kept_local == [("lessons/07.ipynb", "lessons/07.upstream-v2.ipynb")]
    assert (mh_course / "lessons/07.ipynb").read_bytes() == b"my answers"
    assert all((mh_course / p).read_bytes() == b for p, b in v2.items() if "07" not in p)
    assert not pending_update(mh_course, "v2")


CHILD = """
import sys
from pathlib import Path
from mentorhub_server.sync import RemoteFile, sync_course
import hashlib
course, src, version = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
paths = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
files = [RemoteFile(p, hashlib.sha256((src / p).read_bytes()).hexdigest()) for p in paths]
def fetch(path):
    print(path, flush=True)
    return (src / path).read_bytes()
sync_course(course, version, files, fetch)
print("DONE", flush=True)
"""


def test_killed_sync_loses_nothing_when_run_again(mh_course, mh_version, tmp_path):
    n = 300
    v1 = {f"part{i % 10}/f{i:03}.bin": bytes([i % 256]) * 65536 for i in range(n)}
    mh_version("v1", v1).sync(mh_course)
    edited = {p: b"learner's work " + p.encode() for p in list(v1)[::60]}
    for p, b in edited.items():
        (mh_course / p).write_bytes(b)
    v2 = {p: b"v2" + b for p, b in v1.items()}
    src = tmp_path / "upstream"
    for p, b in v2.items():
        (src / p).parent.mkdir(parents=True, exist_ok=True)
        (src / p).write_bytes(b)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(mh_course), str(src), "v2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    for _ in range(n // 3):
        assert child.stdout.readline() != "DONE\n"
    child.send_signal(signal.SIGKILL)
    child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert pending_update(mh_course, "v2")
    (mh_course / "part3" / f"{TMP_PREFIX}0badc0de").write_bytes(b"half a file")  # killed mid-write

    report = mh_version("v2", v2).sync(mh_course)
    assert not temp_files(mh_course)
    assert sorted(mine for mine, _ in report.kept_local) == sorted(edited)
    for p, b in v2.items():
        assert (mh_course / p).read_bytes() == edited.get(p, b)
    siblings = sorted(str(p.relative_to(mh_course)) for p in mh_course.rglob("*.upstream-*"))
    assert siblings == sorted(p.replace(".bin", ".upstream-v2.bin") for p in edited)
    assert all((mh_course / s).read_bytes() == v2[m] for m, s in report.kept_local)
    assert not pending_update(mh_course, "v2")


def test_concurrent_syncs_of_one_course_take_turns(mh_course, mh_version):
    contents = {f"f{i}.txt": f"file {i}".encode() for i in range(20)}
    tabs = [mh_version("v1", contents, delay=0.005) for _ in range(2)]
    start = threading.Barrier(2)
    reports = []

    def run(v: Version) -> None:
        start.wait()
        reports.append(v.sync(mh_course))

    threads = [threading.Thread(target=run, args=(v,)) for v in tabs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(r.added) for r in reports) == [0, 20]
    assert sorted(len(r.unchanged) for r in reports) == [0, 20]
    assert sum(len(v.fetched) for v in tabs) == 20
    assert not list(mh_course.rglob("*.upstream-*"))


def test_pending_update_compares_with_last_synced_version(mh_course, mh_version):
    assert pending_update(mh_course, "v1")
    mh_version("v1", V1).sync(mh_course)
    assert not pending_update(mh_course, "v1")
    assert pending_update(mh_course, "v2")
    (mh_course / ".mentorhub/sync.json").write_text("not json")
    assert pending_update(mh_course, "v1")
