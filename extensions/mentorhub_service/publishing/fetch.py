"""Fetch one commit of a course repository into a plain directory, treating it as hostile.

The service runs as root and holds every secret, while anyone who can push to a course
repository can craft it. So a fetch runs none of its code, writes nothing outside ``dest``
and refuses the whole course, listing every reason, before writing a single course file.

source
    an ``https://``, ``http://`` or ``file://`` URL, or a local path; nothing else.
ref
    a branch, a tag or a commit sha (full, or abbreviated to at least 4 hex digits).
gitlink
    a tree entry naming a commit of another repository: how git records a submodule.

How: ``git init --bare`` a private repository in ``dest``, ``git fetch --depth 1`` the one
commit (all branches and tags only if the server will not send a sha by itself), check
every entry ``git ls-tree`` lists, and only then stream ``git archive`` through our own tar
reader into ``dest/tree``. git runs with an environment and configuration of our own: no
system or global config, no hooks, filters or attribute rewriting, one protocol, no
redirects, received objects fsck'd.
"""

from __future__ import annotations

import base64
import functools
import os
import re
import resource
import shutil
import signal
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, NamedTuple


@dataclass(frozen=True)
class FetchLimits:
    """What one fetch may cost; going over any limit refuses the whole course."""

    max_total_bytes: int = 200 * 2**20  # the course's files together
    max_file_bytes: int = 50 * 2**20  # any one file
    max_files: int = 5000
    max_repo_bytes: int = 500 * 2**20  # git objects on disk, history included
    timeout_seconds: float = 120.0  # the whole fetch, every git process included


class FetchError(Exception):
    """The course was refused; ``problems`` lists every reason found, each naming its file."""

    def __init__(self, problems: str | list[str]) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class GitCredentials:
    """A username and password (or token) for a private HTTPS repository.

    A credential helper defined in git's environment reads them from environment variables,
    so they are never in the URL or in any process's arguments. git sends them only when
    the server asks, only to the source's host (redirects are not followed) and only over
    https (or plain http to this machine). Raised messages are scrubbed of them anyway.
    """

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        # A newline would inject fields into git's credential protocol.
        if _CONTROL.search(self.username) or _CONTROL.search(self.password):
            raise ValueError("git credentials must not contain control characters")


@dataclass(frozen=True)
class Fetched:
    """A fetched course: ``tree`` holds exactly the commit's files, no ``.git``."""

    commit: str
    tree: Path


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\udc80-\udcff]")  # an undecodable byte, kept by surrogateescape
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TRANSPORT_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")  # git's <transport>::<address>
_REF = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*")
_LOOPBACK = ("localhost", "127.0.0.1", "::1")  # plain http may carry credentials only here
_HEX = re.compile(r"[0-9a-f]{4,40}")
_SHA = re.compile(r"[0-9a-f]{40}\n?")
# In $GIT_DIR/info/attributes, this beats the course's .gitattributes: export the bytes.
_ATTRIBUTES = "* -text -eol -ident -filter -working-tree-encoding -export-ignore -export-subst\n"
# unpackLimit=1 keeps what is received as one pack file, which RLIMIT_FSIZE then bounds;
# allowReachableSHA1InWant lets a local source (served by our own upload-pack) send a sha.
_CONFIG = """
    protocol.allow=never core.hooksPath=/dev/null core.fsmonitor=false core.symlinks=false
    core.autocrlf=false core.protectNTFS=true core.protectHFS=true transfer.fsckObjects=true
    transfer.unpackLimit=1 fetch.recurseSubmodules=false submodule.recurse=false gc.auto=0
    http.followRedirects=false maintenance.auto=false uploadpack.allowReachableSHA1InWant=true
"""
# Nothing of the caller's environment but PATH: no GIT_TRACE, proxy, askpass or config.
_ENV = """
    LC_ALL=C GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_SYSTEM=/dev/null GIT_CONFIG_GLOBAL=/dev/null
    GIT_PROTOCOL_FROM_USER=0 GIT_TERMINAL_PROMPT=0 GIT_ASKPASS= SSH_ASKPASS=
    GIT_NO_REPLACE_OBJECTS=1 GIT_LFS_SKIP_SMUDGE=1
"""
_CREDENTIAL_HELPER = (
    '!f() { if [ "$1" = get ]; then '
    'printf "username=%s\\npassword=%s\\n" "$MH_GIT_USERNAME" "$MH_GIT_PASSWORD"; fi; }; f'
)


def fetch(
    source: str,
    ref: str | None,
    dest: Path,
    *,
    limits: FetchLimits = FetchLimits(),
    credentials: GitCredentials | None = None,
) -> Fetched:
    """Fetch ``ref`` (default: the source's HEAD) of ``source`` into ``dest/tree``.

    ``dest`` must not exist or be empty; on any error it is left so, never half-written.
    Refused, every problem listed: symbolic links (even ones pointing inside the course:
    simpler, and a course needs none), submodules (``.gitmodules`` or gitlinks), names
    starting with ``-`` or holding control characters or non-UTF-8 bytes, paths leaving
    the tree, and anything over ``limits``. Blocking: call it from an executor.
    """
    url, protocol = _check_source(source, credentials)
    _check_ref(ref)
    deadline = time.monotonic() + limits.timeout_seconds
    created = _prepare(dest)
    try:
        git = _Git(dest / ".fetch", protocol, deadline, limits, credentials)
        return _fetch(git, url, ref, dest)
    except BaseException as error:
        _empty(dest, created)
        if isinstance(error, FetchError):
            raise FetchError([_scrub(p, credentials) for p in error.problems]) from None
        raise


def _fetch(git: _Git, url: str, ref: str | None, dest: Path) -> Fetched:
    (git.work / "home").mkdir(parents=True)
    git.work.chmod(0o700)
    git.run("init", "--quiet", "--bare", "--template=")
    (git.repo / "info").mkdir()
    (git.repo / "info" / "attributes").write_text(_ATTRIBUTES)
    commit = _fetch_commit(git, url, ref)
    entries, problems = _list_tree(git, commit)
    problems += _symlink_problems(git, [e for e in entries if e.mode == "120000"])
    if problems:
        raise FetchError(problems)
    (tree := dest / "tree").mkdir()
    with git.running("archive", "--format=tar", commit) as proc:
        _untar(proc.stdout, tree, git.limits)
    if problems := _walk_problems(tree):
        raise FetchError(problems)
    shutil.rmtree(git.work)
    return Fetched(commit=commit, tree=tree)


def _check_source(source: str, credentials: GitCredentials | None) -> tuple[str, str]:
    """The URL or absolute path to give git, and the one protocol git may use for it."""
    if not source or _CONTROL.search(source):
        raise FetchError("source: empty or holding control characters")
    if source.startswith("-"):
        raise FetchError(f"source {source!r}: must not start with '-'")
    if _TRANSPORT_HELPER.match(source):
        raise FetchError(f"source {source!r}: transport helpers ('<transport>::') are not allowed")
    if not (match := _SCHEME.match(source)):
        if ":" in source.split("/", 1)[0]:
            raise FetchError(f"source {source!r}: git reads 'host:path' as ssh, not allowed")
        return os.path.abspath(source), "file"
    scheme = match.group(1).lower()
    if scheme not in ("https", "http", "file"):
        raise FetchError(
            f"source {source!r}: transport {scheme!r} is not allowed; "
            "use https://, http://, file:// or a local path"
        )
    parts = urllib.parse.urlsplit(source)
    if parts.username is not None or parts.password is not None:
        raise FetchError("source: the URL must not carry credentials; pass GitCredentials")
    if scheme == "http" and credentials and parts.hostname not in _LOOPBACK:
        raise FetchError(f"source {source!r}: credentials go over https only (http: loopback)")
    return scheme + source[len(scheme) :], scheme


def _check_ref(ref: str | None) -> None:
    if ref is not None and ref.startswith("-"):
        raise FetchError(f"ref {ref!r}: must not start with '-'")
    if ref is not None and (
        not _REF.fullmatch(ref) or ".." in ref or "//" in ref or ref.endswith(("/", ".", ".lock"))
    ):
        raise FetchError(f"ref {ref!r}: not a branch, tag or commit sha")


def _prepare(dest: Path) -> bool:
    """Whether ``dest`` was created here (and so is removed again on failure)."""
    if dest.is_symlink():
        raise FetchError(f"{dest}: is a symbolic link")
    if dest.exists():
        if not dest.is_dir() or any(dest.iterdir()):
            raise FetchError(f"{dest}: must not exist or be an empty directory")
        return False
    dest.mkdir(parents=True)
    return True


def _empty(dest: Path, created: bool) -> None:
    for child in [dest] if created else list(dest.iterdir()):
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


def _fetch_commit(git: _Git, url: str, ref: str | None) -> str:
    """Fetch the commit ``ref`` names, as shallowly as the server allows; its full sha."""
    fetch = ("fetch", "--quiet", "--no-tags", "--no-recurse-submodules")
    what = f"ref {ref!r}" if ref else "the default branch"
    try:
        git.run(*fetch, "--depth=1", "--", url, ref or "HEAD", watch_size=True)
        name = "FETCH_HEAD"
    except _GitFailed as failed:
        if ref is None or not _HEX.fullmatch(ref):
            raise FetchError(f"could not fetch {what} from {url}: {failed}") from None
        try:  # a sha the server would not send by itself: take every branch and tag
            refspecs = ("+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*")
            git.run(*fetch, "--", url, *refspecs, watch_size=True)
        except _GitFailed as again:
            raise FetchError(f"could not fetch {what} from {url}: {again}") from None
        name = ref
    if _dir_bytes(git.repo) > git.limits.max_repo_bytes:
        raise FetchError(git.too_big())
    try:
        commit = git.run("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").decode()
    except _GitFailed:
        raise FetchError(f"{what}: no such commit in {url}") from None
    if not _SHA.fullmatch(commit):
        raise FetchError(f"{what}: git named no single commit")
    return commit.strip()


class _Entry(NamedTuple):
    path: str  # undecodable bytes kept as surrogates
    raw: bytes
    mode: str
    kind: str
    oid: str
    size: int


class _Enough(Exception):
    """Stop reading a listing already over the limit: trees can nest into billions of paths."""


def _list_tree(git: _Git, commit: str) -> tuple[list[_Entry], list[str]]:
    """Every file of the commit, and what is wrong with them, known before any is written."""
    limits, entries, problems, total = git.limits, [], [], 0
    try:
        with git.running("ls-tree", "-r", "-l", "-z", "--full-tree", commit) as proc:
            rest = b""
            while chunk := proc.stdout.read1(1 << 16):
                *records, rest = (rest + chunk).split(b"\0")
                for record in records:
                    meta, _, raw = record.partition(b"\t")
                    mode, kind, oid, size = meta.decode().split()
                    path = raw.decode("utf-8", "surrogateescape")
                    entry = _Entry(path, raw, mode, kind, oid, 0 if size == "-" else int(size))
                    entries.append(entry)
                    problems += _entry_problems(entry, limits)
                    total += entry.size
                if len(entries) > limits.max_files:
                    raise _Enough
    except _Enough:
        problems.append(f"more than {limits.max_files:,} files (max_files)")
    if total > limits.max_total_bytes and len(entries) <= limits.max_files:
        problems.append(f"the files take {total:,} bytes, more than {limits.max_total_bytes:,}")
    return entries, problems


def _entry_problems(entry: _Entry, limits: FetchLimits) -> list[str]:
    shown, parts, problems = _show(entry.path), entry.path.split("/"), []
    if _SURROGATE.search(entry.path):
        problems.append(f"{shown}: name is not UTF-8")
    if entry.raw.startswith(b"/") or any(
        p in ("", ".", "..") or p.lower() == ".git" for p in parts
    ):
        problems.append(f"{shown}: path leaves the course")
    if any(p.startswith("-") for p in parts):
        problems.append(f"{shown}: names starting with '-' are not allowed")
    if _CONTROL.search(entry.path):
        problems.append(f"{shown}: names with control characters are not allowed")
    if entry.kind == "commit":
        problems.append(f"{shown}: submodule (gitlink); submodules are not allowed")
    elif parts[-1] == ".gitmodules":
        problems.append(f"{shown}: submodules are not allowed")
    elif entry.mode not in ("100644", "100755", "120000"):
        problems.append(f"{shown}: not a regular file (mode {entry.mode})")
    if entry.size > limits.max_file_bytes:
        problems.append(f"{shown}: {entry.size:,} bytes, more than {limits.max_file_bytes:,}")
    return problems


def _symlink_problems(git: _Git, links: list[_Entry]) -> list[str]:
    """One problem per symbolic link, naming its target (when short enough to show)."""
    short, targets = [e for e in links if e.size <= 1024], {}
    if short:
        with tempfile.TemporaryFile(dir=git.work) as wanted:
            wanted.write("".join(f"{e.oid}\n" for e in short).encode())
            wanted.seek(0)
            out = git.run("cat-file", "--batch", stdin=wanted)
        for entry in short:  # each: "<oid> blob <size>\n<content>\n" or "<oid> missing\n"
            header, _, out = out.partition(b"\n")
            if len(fields := header.split()) == 3:
                size = int(fields[2])
                targets[entry.oid], out = out[:size].decode("utf-8", "replace"), out[size + 1 :]
    return [
        f"{_show(e.path)} -> {_show(targets.get(e.oid, f'<{e.size:,} bytes>'))}: "
        "symbolic links are not allowed"
        for e in links
    ]


def _untar(stream: IO[bytes], tree: Path, limits: FetchLimits) -> None:
    """Write regular files and directories only, each path and size checked again.

    Not ``tarfile.extractall``: Python 3.11.2 has no extraction filters, and writing
    ourselves (``O_EXCL | O_NOFOLLOW``, into directories made here) can never follow a link.
    """
    files = total = 0
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            parts, shown = member.name.rstrip("/").split("/"), _show(member.name)
            if member.name.startswith("/") or any(p in ("", ".", "..") for p in parts):
                raise FetchError(f"{shown}: path leaves the course")
            target = tree.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if not member.isfile() or (source := tar.extractfile(member)) is None:
                raise FetchError(f"{shown}: not a regular file")
            files, total = files + 1, total + member.size
            if files > limits.max_files or total > limits.max_total_bytes:
                raise FetchError(f"{shown}: the course is over its limits")
            if member.size > limits.max_file_bytes:
                raise FetchError(f"{shown}: {member.size:,} bytes, more than the limit")
            target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            fd = os.open(target, flags, 0o755 if member.mode & 0o100 else 0o644)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(source, out)


def _walk_problems(tree: Path) -> list[str]:
    """Belt and braces, after writing: only regular files and directories, none outside."""
    problems, root = [], tree.resolve()
    for folder, dirs, files in os.walk(tree):
        for path in (Path(folder, name) for name in dirs + files):
            plain = not path.is_symlink() and (path.is_dir() or path.is_file())
            if not plain or not path.resolve().is_relative_to(root):
                problems.append(f"{_show(str(path.relative_to(tree)))}: not a plain course file")
    return problems


def _show(text: str) -> str:
    """``text`` fit for a message: control characters and undecodable bytes escaped."""
    if _CONTROL.search(text) or _SURROGATE.search(text):
        return repr(text)[1:-1]
    return text


def _scrub(text: str, credentials: GitCredentials | None) -> str:
    """``text`` without the password: plain, URL-quoted or in a Basic auth header."""
    if credentials is None or not credentials.password:
        return text
    password = credentials.password
    basic = base64.b64encode(f"{credentials.username}:{password}".encode()).decode()
    for secret in (password, urllib.parse.quote(password, safe=""), basic):
        text = text.replace(secret, "***")
    return text


class _GitFailed(Exception):
    """git exited non-zero; the message is the end of what it said."""


class _Git:
    """git on a private bare repository, with nothing of the host's or the course's config."""

    def __init__(
        self,
        work: Path,
        protocol: str,
        deadline: float,
        limits: FetchLimits,
        credentials: GitCredentials | None,
    ) -> None:
        self.work, self.repo, self.deadline, self.limits = work, work / "repo.git", deadline, limits
        self.env = dict(pair.split("=", 1) for pair in _ENV.split())
        self.env |= {"PATH": os.environ.get("PATH", os.defpath), "GIT_ALLOW_PROTOCOL": protocol}
        self.env |= {"HOME": str(work / "home"), "XDG_CONFIG_HOME": str(work / "home")}
        if credentials is not None:
            self.env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "credential.helper",
                "GIT_CONFIG_VALUE_0": _CREDENTIAL_HELPER,
                "MH_GIT_USERNAME": credentials.username,
                "MH_GIT_PASSWORD": credentials.password,
            }
        config = [*_CONFIG.split(), f"protocol.{protocol}.allow=always"]
        self.argv = ["git", f"--git-dir={self.repo}", *(a for c in config for a in ("-c", c))]
        # The kernel stops git writing any file (the one pack) bigger than max_repo_bytes.
        _, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        cap = (
            limits.max_repo_bytes
            if hard == resource.RLIM_INFINITY
            else min(hard, limits.max_repo_bytes)
        )
        self.preexec = functools.partial(resource.setrlimit, resource.RLIMIT_FSIZE, (cap, hard))

    def run(self, *args: str, stdin: IO[bytes] | None = None, watch_size: bool = False) -> bytes:
        with self.running(*args, stdin=stdin, watch_size=watch_size) as proc:
            return proc.stdout.read()

    @contextmanager
    def running(
        self, *args: str, stdin: IO[bytes] | None = None, watch_size: bool = False
    ) -> Iterator[subprocess.Popen[bytes]]:
        """git in its own process group, all killed at the deadline or over max_repo_bytes."""
        if time.monotonic() >= self.deadline:
            raise FetchError(self.too_slow())
        proc = subprocess.Popen(
            [*self.argv, *args],
            stdin=stdin or subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=self.env,
            cwd=self.work / "home",
            start_new_session=True,
            preexec_fn=self.preexec,  # only setrlimit, safe enough between fork and exec
        )
        done, verdict, said = threading.Event(), [], bytearray()
        watchers = [
            threading.Thread(target=_drain, args=(proc.stderr, said), daemon=True),
            threading.Thread(
                target=self._watch, args=(proc, done, verdict, watch_size), daemon=True
            ),
        ]
        for thread in watchers:
            thread.start()
        try:
            yield proc
        except BaseException:
            _kill(proc)
            _finish(proc, done, watchers)
            if verdict:
                raise FetchError(verdict[0]) from None
            raise
        _finish(proc, done, watchers)
        if verdict:
            raise FetchError(verdict[0])
        if proc.returncode != 0:
            if watch_size and _dir_bytes(self.repo) >= self.limits.max_repo_bytes:
                raise FetchError(self.too_big())  # RLIMIT_FSIZE stopped it
            text = _CONTROL.sub(" ", said.decode("utf-8", "replace")).strip()
            raise _GitFailed(text or f"git exited with status {proc.returncode}")

    def _watch(
        self,
        proc: subprocess.Popen[bytes],
        done: threading.Event,
        verdict: list[str],
        watch_size: bool,
    ) -> None:
        while not done.wait(0.05):
            if time.monotonic() >= self.deadline:
                verdict.append(self.too_slow())
            elif watch_size and _dir_bytes(self.repo) > self.limits.max_repo_bytes:
                verdict.append(self.too_big())
            else:
                continue
            return _kill(proc)

    def too_slow(self) -> str:
        return f"fetching took longer than {self.limits.timeout_seconds:g} s (timeout_seconds)"

    def too_big(self) -> str:
        return (
            f"the repository takes more than {self.limits.max_repo_bytes:,} bytes (max_repo_bytes)"
        )


def _drain(stream: IO[bytes], said: bytearray) -> None:
    """Keep the end of what git says: a hostile server may say a lot."""
    while chunk := stream.read1(1 << 16):  # type: ignore[attr-defined]
        said += chunk
        del said[:-2000]


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.returncode is None:
        with suppress(ProcessLookupError):  # it ended meanwhile
            os.killpg(proc.pid, signal.SIGKILL)


def _finish(
    proc: subprocess.Popen[bytes], done: threading.Event, watchers: list[threading.Thread]
) -> None:
    proc.stdout.close()  # a git still writing gets SIGPIPE rather than blocking
    proc.wait()
    done.set()
    for thread in watchers:
        thread.join()
    proc.stderr.close()


def _dir_bytes(path: Path) -> int:
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with suppress(FileNotFoundError):  # git renames temporary files as it goes
                total += os.lstat(os.path.join(folder, name)).st_size
    return total
