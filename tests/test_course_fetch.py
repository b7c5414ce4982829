"""Fetching a course repository, hostile ones included: real git repositories, real git."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import tarfile
import time
from collections.abc import Callable, Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest
from gitserver import serve_git
from mentorhub_service.publishing.fetch import (
    FetchError,
    FetchLimits,
    GitCredentials,
    _untar,
    fetch,
)

# The tests' own git: no host configuration, a fixed identity.
GIT_ENV = {
    **os.environ,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": "Ada",
    "GIT_AUTHOR_EMAIL": "ada@example.org",
    "GIT_COMMITTER_NAME": "Ada",
    "GIT_COMMITTER_EMAIL": "ada@example.org",
}
SECRET = "s3cr3t-t0ken-Zq9"


def git(repo: Path, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=True,
        env=GIT_ENV,
    )
    return done.stdout.strip()


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def mh_git_repo(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a repository whose one commit on ``main`` holds ``files``, links and gitlinks."""
    made: list[Path] = []

    def make(
        files: dict[str, str | bytes],
        *,
        symlinks: dict[str, str] | None = None,
        gitlinks: dict[str, str] | None = None,
    ) -> Path:
        repo = tmp_path / f"repo{len(made)}"
        made.append(repo)
        git(tmp_path, "init", "-q", "-b", "main", str(repo))
        for name, content in files.items():
            path = repo / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content.encode() if isinstance(content, str) else content)
        for name, target in (symlinks or {}).items():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            os.symlink(target, repo / name)
        git(repo, "add", "-A")
        for name, sha in (gitlinks or {}).items():
            git(repo, "update-index", "--add", "--cacheinfo", f"160000,{sha},{name}")
        git(repo, "commit", "-q", "-m", "course")
        return repo

    return make


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "fetched"


@pytest.fixture
def mh_git_http(tmp_path: Path) -> Iterator[Callable[..., ThreadingHTTPServer]]:
    """Factory: a loopback git HTTP server publishing ``repo`` as ``/course.git``."""
    servers: list[ThreadingHTTPServer] = []

    def serve(repo: Path, auth: tuple[str, str] | None = None) -> ThreadingHTTPServer:
        server = serve_git(repo, tmp_path / f"http{len(servers)}", auth)
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


def refused(source: str, ref: str | None, dest: Path, **kwargs: object) -> FetchError:
    """The error a refused fetch raised, after checking it left nothing behind."""
    with pytest.raises(FetchError) as caught:
        fetch(source, ref, dest, **kwargs)  # type: ignore[arg-type]
    assert not dest.exists() or not any(dest.iterdir())
    return caught.value


def test_default_branch_is_fetched_as_plain_files_without_git_dir(mh_git_repo, dest) -> None:
    course = {
        "README.md": "# Python\n",
        "week1/intro.ipynb": '{"cells": []}',
        "data/x.bin": b"\0\1",
    }
    repo = mh_git_repo(course)
    got = fetch(str(repo), None, dest)
    assert got.commit == git(repo, "rev-parse", "HEAD")
    assert got.tree == dest / "tree"
    assert os.listdir(dest) == ["tree"]
    assert files_under(got.tree) == {
        k: v if isinstance(v, bytes) else v.encode() for k, v in course.items()
    }
    assert not list(got.tree.rglob(".git"))


@pytest.mark.parametrize("kind", ["branch", "tag", "annotated tag", "sha", "short sha", "file url"])
def test_ref_may_name_a_branch_a_tag_or_a_commit(mh_git_repo, dest, kind: str) -> None:
    repo = mh_git_repo({"lesson.md": "first\n"})
    first = git(repo, "rev-parse", "HEAD")
    git(repo, "branch", "spring")
    git(repo, "tag", "light", first)
    git(repo, "tag", "-a", "v1", "-m", "first edition", first)
    (repo / "lesson.md").write_text("second\n")
    git(repo, "commit", "-q", "-am", "second")
    ref = {"branch": "spring", "tag": "light", "annotated tag": "v1", "sha": first}
    ref |= {"short sha": first[:9], "file url": "spring"}
    source = repo.as_uri() if kind == "file url" else str(repo)
    got = fetch(source, ref[kind], dest)
    assert got.commit == first
    assert files_under(got.tree) == {"lesson.md": b"first\n"}


def test_relative_local_path_is_read_from_the_working_directory(
    mh_git_repo, dest, monkeypatch
) -> None:
    repo = mh_git_repo({"a.md": "a"})
    monkeypatch.chdir(repo.parent)
    assert files_under(fetch(repo.name, "main", dest).tree) == {"a.md": b"a"}


BAD_SOURCES = [
    "ext::sh -c touch% {marker}",
    "fd::0",
    "--upload-pack=touch {marker}",
    "-u",
    "ssh://127.0.0.1/course.git",
    "git://127.0.0.1/course.git",
    "127.0.0.1:course.git",
    "ftp://127.0.0.1/course.git",
    "https://ada:" + SECRET + "@127.0.0.1/course.git",
    "file:///tmp/course.git\n--upload-pack=touch {marker}",
    "",
]


@pytest.mark.parametrize("source", BAD_SOURCES)
def test_forbidden_sources_are_refused_before_git_runs(tmp_path, dest, source: str) -> None:
    marker = tmp_path / "pwned"
    error = refused(source.format(marker=marker), None, dest)
    assert not dest.exists()
    assert not marker.exists()
    assert SECRET not in str(error)


BAD_REFS = ["-x", "--upload-pack=touch pwned", "main:refs/heads/evil", "main..spring", "main~1"]
BAD_REFS += ["HEAD@{1}", "a b", "", ".hidden", "refs/heads/", "x.lock", "main\n"]


@pytest.mark.parametrize("ref", BAD_REFS)
def test_option_like_or_malformed_refs_are_refused(mh_git_repo, dest, ref: str) -> None:
    repo = mh_git_repo({"a.md": "a"})
    refused(str(repo), ref, dest)
    assert not dest.exists()
    assert not (repo / "pwned").exists()


@pytest.mark.parametrize("ref", ["nope", "0" * 40, "deadbeef"])
def test_unknown_ref_is_refused_naming_it(mh_git_repo, dest, ref: str) -> None:
    error = refused(str(mh_git_repo({"a.md": "a"})), ref, dest)
    assert ref in str(error)


def test_symlinks_are_refused_each_listed_with_its_target_and_nothing_is_kept(
    mh_git_repo, dest
) -> None:
    links = {"passwd": "/etc/passwd", "week1/up": "../../outside", "inside": "README.md"}
    repo = mh_git_repo({"README.md": "hi"}, symlinks=links)
    error = refused(str(repo), None, dest)
    assert sorted(error.problems) == sorted(
        f"{path} -> {target}: symbolic links are not allowed" for path, target in links.items()
    )
    assert not dest.exists()


def test_submodules_are_refused_naming_their_path(mh_git_repo, dest) -> None:
    other = git(mh_git_repo({"x": "x"}), "rev-parse", "HEAD")
    gitmodules = '[submodule "lib"]\n\tpath = lib/ext\n\turl = https://example.org/x.git\n'
    repo = mh_git_repo({".gitmodules": gitmodules, "a.md": "a"}, gitlinks={"lib/ext": other})
    error = refused(str(repo), None, dest)
    assert any(p.startswith("lib/ext: submodule") for p in error.problems)
    assert any(p.startswith(".gitmodules: submodules") for p in error.problems)


def test_names_starting_with_dash_are_refused_at_any_level(mh_git_repo, dest) -> None:
    repo = mh_git_repo({"-rf": "", "week1/--help.ipynb": "", "-dir/a.md": "", "ok-name.md": ""})
    error = refused(str(repo), None, dest)
    assert sorted(p.split(":")[0] for p in error.problems) == [
        "-dir/a.md",
        "-rf",
        "week1/--help.ipynb",
    ]


ODD_NAMES = [
    ("evil\nname.md", "evil\\nname.md: names with control characters are not allowed"),
    ("week1/bell\a.md", "week1/bell\\x07.md: names with control characters are not allowed"),
    (os.fsdecode(b"caf\xe9.md"), "caf\\udce9.md: name is not UTF-8"),
]


@pytest.mark.parametrize("name, problem", ODD_NAMES)
def test_names_with_control_characters_or_not_utf8_are_refused_and_shown_escaped(
    mh_git_repo, dest, name: str, problem: str
) -> None:
    error = refused(str(mh_git_repo({name: "", "ok.md": ""})), None, dest)
    assert error.problems == [problem]


@pytest.mark.parametrize("name", ["..", ".git", ".GIT"])
def test_crafted_trees_reaching_outside_are_refused_and_nothing_lands_outside(
    mh_git_repo, tmp_path, dest, name: str
) -> None:
    repo = mh_git_repo({"a.md": "a"})
    blob = git(repo, "hash-object", "-w", "--stdin", stdin="[core]\n\thooksPath = /tmp\n")
    inner = git(repo, "mktree", stdin=f"100644 blob {blob}\tconfig\n")
    tree = git(repo, "mktree", stdin=f"040000 tree {inner}\t{name}\n100644 blob {blob}\tb.md\n")
    git(repo, "update-ref", "refs/heads/main", git(repo, "commit-tree", tree, "-m", "evil"))
    before = sorted(p.name for p in tmp_path.iterdir())
    refused(str(repo), None, dest)
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_files_over_the_single_file_limit_are_refused_naming_each(mh_git_repo, dest) -> None:
    repo = mh_git_repo({"big.csv": "x" * 200, "w/huge.bin": "y" * 300, "small.md": "z" * 100})
    error = refused(str(repo), None, dest, limits=FetchLimits(max_file_bytes=100))
    assert error.problems == [
        "big.csv: 200 bytes, more than 100",
        "w/huge.bin: 300 bytes, more than 100",
    ]


def test_highly_compressible_file_is_refused_by_its_real_size_before_writing(
    mh_git_repo, dest
) -> None:
    repo = mh_git_repo({"zeros.bin": bytes(5 * 2**20)})  # a few KiB once packed
    limits = FetchLimits(max_file_bytes=2**20, max_total_bytes=2**20, max_repo_bytes=2**20)
    error = refused(str(repo), None, dest, limits=limits)
    assert error.problems[0] == f"zeros.bin: {5 * 2**20:,} bytes, more than {2**20:,}"


def test_courses_over_the_total_size_limit_are_refused(mh_git_repo, dest) -> None:
    repo = mh_git_repo({f"part{i}.md": "x" * 400 for i in range(3)})
    error = refused(str(repo), None, dest, limits=FetchLimits(max_total_bytes=1000))
    assert error.problems == ["the files take 1,200 bytes, more than 1,000"]


def test_courses_with_too_many_files_are_refused(mh_git_repo, dest) -> None:
    repo = mh_git_repo({f"nb{i}.ipynb": "{}" for i in range(6)})
    error = refused(str(repo), None, dest, limits=FetchLimits(max_files=5))
    assert error.problems == ["more than 5 files (max_files)"]


def test_repositories_over_the_repository_size_limit_are_refused(mh_git_repo, dest) -> None:
    repo = mh_git_repo({"noise.bin": os.urandom(300_000)})
    error = refused(str(repo), None, dest, limits=FetchLimits(max_repo_bytes=100_000))
    assert error.problems == ["the repository takes more than 100,000 bytes (max_repo_bytes)"]


def test_history_counts_toward_the_repository_size_limit(mh_git_repo, dest) -> None:
    repo = mh_git_repo({"noise.bin": os.urandom(300_000), "a.md": "a"})
    git(repo, "rm", "-q", "noise.bin")
    git(repo, "commit", "-q", "-m", "drop the noise")
    short = git(repo, "rev-parse", "--short=8", "HEAD")  # not fetchable alone: all history comes
    limits = FetchLimits(max_repo_bytes=100_000)
    assert fetch(str(repo), "main", dest, limits=limits).commit.startswith(short)
    error = refused(str(repo), short, dest.with_name("again"), limits=limits)
    assert "max_repo_bytes" in str(error)


def test_gitattributes_cannot_change_or_hide_exported_files(mh_git_repo, dest) -> None:
    course = {
        ".gitattributes": "hidden.md export-ignore\n*.txt export-subst text eol=crlf ident\n",
        "hidden.md": "still here\n",
        "subst.txt": "$Format:%H$\n$Id$\nline\n",
    }
    got = fetch(str(mh_git_repo(course)), None, dest)
    assert files_under(got.tree) == {k: v.encode() for k, v in course.items()}


def test_host_git_configuration_and_environment_are_ignored(
    mh_git_repo, tmp_path, dest, monkeypatch
) -> None:
    repo = mh_git_repo({".gitattributes": "* filter=evil\n", "a.md": "course\n"})
    decoy = mh_git_repo({"a.md": "decoy\n"})
    marker, hooks = tmp_path / "pwned", tmp_path / "hooks"
    hooks.mkdir()
    for hook in ("reference-transaction", "post-checkout", "post-merge", "pre-auto-gc"):
        (hooks / hook).write_text(f"#!/bin/sh\ntouch {marker}\n")
        (hooks / hook).chmod(0o755)
    evil = tmp_path / "evil.gitconfig"
    evil.write_text(
        f'[filter "evil"]\n\tsmudge = touch {marker}\n\tclean = touch {marker}\n\trequired\n'
        f"[core]\n\thooksPath = {hooks}\n\tfsmonitor = touch {marker}\n"
        f'[url "{decoy}"]\n\tinsteadOf = {repo}\n'
        f"[credential]\n\thelper = !touch {marker}\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(evil))
    monkeypatch.setenv("GIT_CONFIG_SYSTEM", str(evil))
    monkeypatch.setenv("GIT_TRACE", str(tmp_path / "trace"))
    monkeypatch.setenv("GIT_CURL_VERBOSE", "1")
    got = fetch(str(repo), None, dest)
    assert files_under(got.tree)["a.md"] == b"course\n"
    assert not marker.exists()
    assert not (tmp_path / "trace").exists()


def test_timeout_kills_a_hanging_fetch_and_cleans_up(dest) -> None:
    with socket.socket() as hanging:  # accepts connections, never answers
        hanging.bind(("127.0.0.1", 0))
        hanging.listen()
        started = time.monotonic()
        source = f"http://127.0.0.1:{hanging.getsockname()[1]}/course.git"
        error = refused(source, None, dest, limits=FetchLimits(timeout_seconds=1))
    assert time.monotonic() - started < 5
    assert error.problems == ["fetching took longer than 1 s (timeout_seconds)"]
    assert not dest.exists()
    assert not [p for p in psutil.Process().children(recursive=True) if "git" in p.name()]


def test_tiny_timeout_refuses_a_normal_repository_and_leaves_nothing(mh_git_repo, dest) -> None:
    repo = mh_git_repo({"a.md": "a"})
    error = refused(str(repo), None, dest, limits=FetchLimits(timeout_seconds=0.001))
    assert "longer than 0.001 s" in str(error)
    assert not dest.exists()


def test_dest_that_is_not_empty_is_refused_and_left_untouched(mh_git_repo, dest) -> None:
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    with pytest.raises(FetchError, match="must not exist or be an empty directory"):
        fetch(str(mh_git_repo({"a.md": "a"})), None, dest)
    assert files_under(dest) == {"keep.txt": b"mine"}


def test_existing_empty_dest_is_left_empty_when_refused(mh_git_repo, dest) -> None:
    dest.mkdir()
    refused(str(mh_git_repo({"a.md": "a"}, symlinks={"l": "a.md"})), None, dest)
    assert dest.is_dir() and not any(dest.iterdir())


def test_every_problem_is_listed_at_once(mh_git_repo, dest) -> None:
    other = git(mh_git_repo({"x": "x"}), "rev-parse", "HEAD")
    repo = mh_git_repo(
        {"-x.md": "", "big.bin": "b" * 500}, symlinks={"l": "/etc"}, gitlinks={"sub": other}
    )
    error = refused(str(repo), None, dest, limits=FetchLimits(max_file_bytes=100))
    assert sorted(p.split(":")[0] for p in error.problems) == [
        "-x.md",
        "big.bin",
        "l -> /etc",
        "sub",
    ]


def test_private_repository_is_fetched_with_credentials_given_only_to_git(
    mh_git_repo, mh_git_http, dest
) -> None:
    repo = mh_git_repo({"a.md": "private"})
    server = mh_git_http(repo, auth=("ada", SECRET))
    refused(f"{server.url}/course.git", None, dest)  # no credentials, no course
    got = fetch(f"{server.url}/course.git", None, dest, credentials=GitCredentials("ada", SECRET))
    assert files_under(got.tree) == {"a.md": b"private"}
    assert all(SECRET not in path for path, _ in server.seen)


def test_wrong_credentials_are_refused_without_the_secret_in_any_message(
    mh_git_repo, mh_git_http, dest
) -> None:
    server = mh_git_http(mh_git_repo({"a.md": "a"}), auth=("ada", "the-right-one"))
    error = refused(
        f"{server.url}/course.git", None, dest, credentials=GitCredentials("ada", SECRET)
    )
    sent = "Basic " + base64.b64encode(f"ada:{SECRET}".encode()).decode()
    assert sent in [auth for _, auth in server.seen]  # git did send them, when asked
    assert SECRET not in str(error) and sent.split()[1] not in str(error)


def test_secret_is_scrubbed_from_messages_about_local_sources(dest) -> None:
    source = f"file:///nonexistent/{SECRET}/course.git"
    error = refused(source, None, dest, credentials=GitCredentials("ada", SECRET))
    assert SECRET not in str(error) and "***" in str(error)


def test_credentials_are_refused_over_plain_http_to_another_host(dest) -> None:
    creds = GitCredentials("ada", SECRET)
    error = refused("http://example.invalid/course.git", None, dest, credentials=creds)
    assert "https only" in str(error) and SECRET not in str(error)


def test_credentials_with_control_characters_are_rejected() -> None:
    with pytest.raises(ValueError):
        GitCredentials("ada", "x\nhost=evil.example")


def test_redirects_are_not_followed(mh_git_repo, mh_git_http, dest) -> None:
    server = mh_git_http(mh_git_repo({"a.md": "a"}))
    refused(f"{server.url}/moved/course.git", None, dest, credentials=GitCredentials("ada", SECRET))
    assert [path.startswith("/moved/") for path, _ in server.seen] == [True]


def _tar(member: tarfile.TarInfo, payload: bytes = b"") -> io.BytesIO:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        member.size = len(payload)
        tar.addfile(member, io.BytesIO(payload) if payload else None)
    data.seek(0)
    return data


HOSTILE_MEMBERS = {
    "symlink": dict(type=tarfile.SYMTYPE, linkname="/etc/passwd"),
    "hardlink": dict(type=tarfile.LNKTYPE, linkname="/etc/passwd"),
    "device": dict(type=tarfile.CHRTYPE, devmajor=1, devminor=3),
    "fifo": dict(type=tarfile.FIFOTYPE),
}


@pytest.mark.parametrize(
    "name, attrs",
    [("evil", attrs) for attrs in HOSTILE_MEMBERS.values()]
    + [("../evil", {}), ("/tmp/evil", {}), ("a/../../evil", {})],
    ids=[*HOSTILE_MEMBERS, "dotdot", "absolute", "nested-dotdot"],
)
def test_tar_reader_writes_only_regular_files_inside_the_tree(
    tmp_path, name: str, attrs: dict
) -> None:
    tree = tmp_path / "deep" / "tree"
    tree.mkdir(parents=True)
    member = tarfile.TarInfo(name)
    for key, value in attrs.items():
        setattr(member, key, value)
    with pytest.raises(FetchError):
        _untar(_tar(member, b"x" if member.isfile() else b""), tree, FetchLimits())
    assert not any(tree.iterdir())
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["deep", "tree"]
