"""Put a course's learner edition into ``~/courses/<slug>/`` and apply updates, nbgitpuller-style.

Glossary:

- *upstream*: one published version: ``RemoteFile`` (path, sha256) entries and a ``fetch``.
- *state*: ``.mentorhub/sync.json``: the last synced version and, per path, the sha256 of
  upstream at that sync (``upstream``) and of what sync last wrote there (``written``).
- *untouched*: a file whose current sha256 equals ``written``; anything else is the learner's.
- *sibling*: ``<stem>.upstream-<version>[-N].<ext>``, where upstream lands beside a learner's file.
- *retired*: a path the new version no longer has; its file stays, its entry keeps ``written``
  (so an untouched file can be updated if the path comes back).

Rules: new files arrive, untouched files are updated, files the learner deleted come back,
and a learner's file (edited, created by them, or a symlink/folder they put there) is never
overwritten: upstream goes to a sibling. Nothing is written through a symlink: files and
folders are opened relative to directory descriptors with ``O_NOFOLLOW``.

Crash safety: each file is staged in a temp file in its own folder, fsynced, then renamed
over an untouched file (``os.replace``) or hard-linked to a free name (never clobbers).
The state is saved atomically once at the end (and, on an exception, with the progress so
far). After a kill, the re-run treats "content already equal to upstream" as synced, reuses
a sibling that already holds upstream, and deletes stray temp files: nothing is lost or
half-written. A lock (``flock`` on ``.mentorhub/lock``) makes concurrent syncs take turns.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import itertools
import json
import os
import re
import secrets
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

STATE_DIR = ".mentorhub"
STATE_FILE = "sync.json"
LOCK_FILE = "lock"
_TMP_PREFIX = ".mentorhub-tmp-"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Entry = dict[str, str | None]  # {"upstream": sha256 | None (retired), "written": sha256 | None}


@dataclass(frozen=True)
class RemoteFile:
    """One file of a published version: relative posix ``path`` and the sha256 of its bytes."""

    path: str
    sha256: str


@dataclass
class SyncReport:
    """What one sync did, for telling the learner."""

    version: str
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept_local: list[tuple[str, str]] = field(default_factory=list)  # (learner's, sibling)
    restored: list[str] = field(default_factory=list)
    removed_upstream: list[str] = field(default_factory=list)


class SyncError(Exception):
    """The sync was refused or stopped; the message says why. No learner file is lost."""


def synced_version(course_dir: Path) -> str | None:
    """The version last synced completely into ``course_dir``, or None."""
    try:
        raw = (Path(course_dir) / STATE_DIR / STATE_FILE).read_bytes()
    except OSError:
        return None
    return _parse_state(raw)["version"]


def pending_update(course_dir: Path, version: str) -> bool:
    """True if ``version`` is not the one last synced completely into ``course_dir``."""
    return synced_version(course_dir) != version


def sync_course(
    course_dir: Path, version: str, files: list[RemoteFile], fetch: Callable[[str], bytes]
) -> SyncReport:
    """Bring ``course_dir`` to ``version`` without overwriting anything the learner changed.

    Blocking (file I/O, ``fetch``, waiting for a concurrent sync): run it in an executor.
    Raises ``SyncError`` before writing anything for a bad path or a symlinked/non-folder
    parent; a damaged download or a failing ``fetch`` stop the sync, and a re-run finishes it.
    """
    _check_paths(files)
    course_dir = Path(course_dir)
    course_dir.mkdir(parents=True, exist_ok=True)
    tree = _Tree(course_dir)
    try:
        for parent in sorted({_parent(f.path) for f in files}):
            tree.dir(parent, create=False)  # refuse symlinked parents before writing anything
        sfd = tree.dir(STATE_DIR, create=True)
        lock = os.open(
            LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666, dir_fd=sfd
        )
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            return _sync_locked(tree, version, files, fetch)
        finally:
            os.close(lock)  # releases the lock
    finally:
        tree.close()


def _sync_locked(
    tree: _Tree, version: str, files: list[RemoteFile], fetch: Callable[[str], bytes]
) -> SyncReport:
    state = _read_state(tree)
    old: dict[str, Entry] = state["files"]
    entries = dict(old)
    report = SyncReport(version)
    _sweep_temp_files(tree, {_parent(p) for p in old} | {_parent(f.path) for f in files})
    try:
        for rf in files:
            try:
                entries[rf.path] = _sync_one(tree, rf, old.get(rf.path), version, fetch, report)
            except OSError as e:
                raise SyncError(f"could not update '{rf.path}': {e.strerror or e}") from e
        wanted = {f.path for f in files}
        for path, entry in old.items():
            if path not in wanted and entry["upstream"] is not None:
                report.removed_upstream.append(path)
                entries[path] = {"upstream": None, "written": entry["written"]}
    except BaseException:
        with contextlib.suppress(OSError):
            _save_state(tree, state["version"], entries)  # progress so far; version unchanged
        raise
    _save_state(tree, version, entries)
    return report


def _sync_one(
    tree: _Tree,
    rf: RemoteFile,
    old: Entry | None,
    version: str,
    fetch: Callable[[str], bytes],
    report: SyncReport,
) -> Entry:
    """Apply one upstream file; return its new state entry."""
    parent, name = _parent(rf.path), rf.path.rpartition("/")[2]
    dfd = tree.dir(parent, create=True)
    synced: Entry = {"upstream": rf.sha256, "written": rf.sha256}
    st = _lstat(dfd, name)
    if st is None:
        if tree.put(parent, _fetch(fetch, rf), name):
            restored = old is not None and old["upstream"] is not None
            (report.restored if restored else report.added).append(rf.path)
            return synced
        st = _lstat(dfd, name)  # the learner created it meanwhile: theirs
    elif old is not None and old["upstream"] == rf.sha256:
        report.unchanged.append(rf.path)  # upstream did not change: nothing to do, no hashing
        return old
    elif stat.S_ISREG(st.st_mode):
        current = _hash(dfd, name)
        if current == rf.sha256:
            report.unchanged.append(rf.path)
            return synced
        untouched = current is not None and old is not None and current == old["written"]
        if untouched and tree.put(parent, _fetch(fetch, rf), name, over=st):
            report.updated.append(rf.path)
            return synced
    sibling = _write_sibling(tree, parent, name, version, rf, fetch)
    report.kept_local.append((rf.path, sibling))
    return {"upstream": rf.sha256, "written": None if old is None else old["written"]}


def _write_sibling(
    tree: _Tree, parent: str, name: str, version: str, rf: RemoteFile, fetch: Callable[[str], bytes]
) -> str:
    """Write upstream beside the learner's file under a free name (or reuse one holding it)."""
    dfd = tree.dir(parent, create=True)
    stem, dot, ext = name.rpartition(".")
    stem, ext = (stem, dot + ext) if stem else (name, "")
    tag = re.sub(r"[^A-Za-z0-9_-]+", "-", version)[:12].strip("-") or "new"
    data: bytes | None = None
    for n in itertools.count(1):
        candidate = f"{stem}.upstream-{tag}{'' if n == 1 else f'-{n}'}{ext}"
        st = _lstat(dfd, candidate)
        if st is None:
            data = data if data is not None else _fetch(fetch, rf)
            if tree.put(parent, data, candidate):
                return f"{parent}/{candidate}".lstrip("/")
        elif stat.S_ISREG(st.st_mode) and _hash(dfd, candidate) == rf.sha256:
            return f"{parent}/{candidate}".lstrip("/")  # written by an interrupted run
    raise AssertionError("unreachable")


class _Tree:
    """Directory descriptors inside the course, opened without following symlinks."""

    def __init__(self, root: Path) -> None:
        self._fds: dict[str, int] = {"": os.open(root, os.O_RDONLY | os.O_DIRECTORY)}
        self._touched: set[str] = set()

    def dir(self, rel: str, *, create: bool) -> int:
        """The folder ``rel`` ("" is the course); SyncError if it is a symlink or a file."""
        if rel in self._fds:
            return self._fds[rel]
        parent, _, name = rel.rpartition("/")
        pfd = self.dir(parent, create=create)
        if pfd < 0:
            return -1
        st = _lstat(pfd, name)
        if st is None and create:
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o777, dir_fd=pfd)
                self._touched.add(parent)
            st = _lstat(pfd, name)
        if st is None:
            return -1
        if stat.S_ISLNK(st.st_mode):
            raise SyncError(
                f"'{rel}' in your course folder is a symbolic link; mentorhub does not write "
                "through links. Move it away, then update again."
            )
        if not stat.S_ISDIR(st.st_mode):
            raise SyncError(
                f"'{rel}' in your course folder is a file, but the course needs a folder there. "
                "Rename it, then update again."
            )
        self._fds[rel] = os.open(name, _DIR_FLAGS, dir_fd=pfd)
        return self._fds[rel]

    def put(self, parent: str, data: bytes, name: str, over: os.stat_result | None = None) -> bool:
        """Write ``name`` atomically; False (nothing written) if that would lose something.

        With ``over``: replace the file only if it still looks as it did then (the learner
        did not just save it). Without: only if ``name`` is free (a hard link never clobbers).
        """
        dfd = self.dir(parent, create=True)
        tmp = _stage(dfd, data)
        try:
            if over is not None:
                now = _lstat(dfd, name)
                if now is None or _signature(now) != _signature(over):
                    return False
                os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            else:
                try:
                    os.link(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
                except FileExistsError:
                    return False
                except OSError as e:  # a filesystem without hard links
                    if e.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                        raise
                    if _lstat(dfd, name) is not None:
                        return False
                    os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
            self._touched.add(parent)
            return True
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=dfd)

    def fsync_touched(self) -> None:
        """Make renames durable before the state says they happened."""
        for rel in sorted(self._touched):
            os.fsync(self._fds[rel])
        self._touched.clear()

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def _check_paths(files: Iterable[RemoteFile]) -> None:
    """Refuse the whole version if any path could escape the course or clash."""
    problems: list[str] = []
    seen: set[str] = set()
    for f in files:
        reason = _path_problem(f.path)
        if reason is None and not (isinstance(f.sha256, str) and _SHA256.fullmatch(f.sha256)):
            reason = "bad sha256"
        if reason is None and f.path in seen:
            reason = "listed twice"
        if reason:
            problems.append(f"{f.path!r} ({reason})")
        seen.add(f.path)
    folders = {p[:i] for p in seen for i, c in enumerate(p) if c == "/"}
    problems += [f"{p!r} (both a file and a folder)" for p in sorted(seen & folders)]
    if problems:
        raise SyncError("refusing this course version, bad file paths: " + ", ".join(problems))


def _path_problem(path: object) -> str | None:
    if not isinstance(path, str) or not path:
        return "empty"
    if path.startswith("/"):
        return "absolute"
    if "\\" in path or "\x00" in path:
        return "backslash or NUL"
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        return "empty, '.' or '..' segment"
    if parts[0] == STATE_DIR or any(p.startswith(_TMP_PREFIX) for p in parts):
        return "reserved name"
    return None


def _read_state(tree: _Tree) -> dict:
    sfd = tree.dir(STATE_DIR, create=True)
    try:
        fd = os.open(STATE_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=sfd)
    except OSError:
        return _parse_state(b"")
    with open(fd, "rb") as f:
        return _parse_state(f.read())


def _parse_state(raw: bytes) -> dict:
    """Untrusted (the learner can edit it): a bad state counts as none, so every file is theirs."""
    try:
        data = json.loads(raw)
    except ValueError:
        data = None
    version = data.get("version") if isinstance(data, dict) else None
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(version, str) or not isinstance(files, dict):
        return {"version": None, "files": {}}
    entries = {
        p: {"upstream": e["upstream"], "written": e["written"]}
        for p, e in files.items()
        if _path_problem(p) is None
        and isinstance(e, dict)
        and _sha_or_none(e.get("upstream", 0))
        and _sha_or_none(e.get("written", 0))
    }
    return {"version": version, "files": entries}


def _sha_or_none(value: object) -> bool:
    return value is None or (isinstance(value, str) and _SHA256.fullmatch(value) is not None)


def _save_state(tree: _Tree, version: str | None, entries: dict[str, Entry]) -> None:
    tree.fsync_touched()
    sfd = tree.dir(STATE_DIR, create=True)
    body = {"format": 1, "version": version, "files": dict(sorted(entries.items()))}
    tmp = _stage(sfd, json.dumps(body, indent=1).encode())
    os.replace(tmp, STATE_FILE, src_dir_fd=sfd, dst_dir_fd=sfd)
    os.fsync(sfd)


def _sweep_temp_files(tree: _Tree, folders: set[str]) -> None:
    """Delete temp files a killed sync left behind (we hold the lock: none is in use)."""
    for rel in sorted(folders | {STATE_DIR}):
        try:
            dfd = tree.dir(rel, create=False)
        except SyncError:
            continue  # reported when (and if) the sync needs that folder
        if dfd < 0:
            continue
        for entry in os.scandir(dfd):
            if entry.name.startswith(_TMP_PREFIX) and entry.is_file(follow_symlinks=False):
                os.unlink(entry.name, dir_fd=dfd)


def _stage(dfd: int, data: bytes) -> str:
    """Write ``data`` to a new temp file in the folder, fsynced; the mode follows the umask."""
    tmp = _TMP_PREFIX + secrets.token_hex(8)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o666, dir_fd=dfd)
    try:
        with open(fd, "wb", closefd=True) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp, dir_fd=dfd)
        raise
    return tmp


def _fetch(fetch: Callable[[str], bytes], rf: RemoteFile) -> bytes:
    try:
        data = fetch(rf.path)
    except Exception as e:
        raise SyncError(f"could not download '{rf.path}': {e}") from e
    if hashlib.sha256(data).hexdigest() != rf.sha256:
        raise SyncError(
            f"'{rf.path}' arrived damaged (sha256 mismatch); nothing of it was written. "
            "Try the update again."
        )
    return data


def _hash(dfd: int, name: str) -> str | None:
    """sha256 of a regular file, streamed; None if it is not one (never blocks on a FIFO)."""
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
    with open(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return hashlib.file_digest(f, "sha256").hexdigest()


def _lstat(dfd: int, name: str) -> os.stat_result | None:
    try:
        return os.stat(name, dir_fd=dfd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _parent(path: str) -> str:
    return path.rpartition("/")[0]
