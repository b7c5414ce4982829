#!/usr/bin/env python
"""Where one server's start-up time goes, ours and stock (companion of bench/spawn.py).

    .venv/bin/python bench/profile_start.py [--sides ours,stock] [--repeat N] [--no-importtime] [--sample]

Starts each hub with debug logs (hub and servers), spawns mhbench01 once to warm up, then
``--repeat`` times more, and prints the phases of those spawns from the log timestamps
(median and every value): request -> process started -> first server log line (Python,
imports of every enabled extension) -> listening -> seen by the hub's readiness poll ->
proxy route added; then a timeline of the last spawn. Unless ``--no-importtime`` (which
times the phases without its overhead), the servers run with ``PYTHONPROFILEIMPORTTIME=1``
and the import time of the last spawn is summed per top-level package. ``--sample`` adds a
small in-process stack sampler (a sitecustomize on PYTHONPATH) over the server's first
seconds. ``--launcher FILE`` and ``--env NAME=VALUE`` try a changed launcher before it is
installed. Logs: bench/results/profile-*.log.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from spawn import RESULTS, SIDES, bench_users, hash_password, spawn, stop, user_token  # noqa: E402

TS = re.compile(r"^\[(\w) \d{4}-\d\d-\d\d (\d\d):(\d\d):(\d\d\.\d+) (\S+)")
CHP_TS = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \[ConfigProxy\]")
IMPORT = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")

SAMPLER = r"""
import os, sys, threading, time, collections
_out = os.environ.get("BENCH_SAMPLE_OUT")
if _out:
    _main = threading.main_thread().ident
    _t0 = time.perf_counter()
    _counts = collections.Counter()
    _n = [0]
    def _run():
        dur = float(os.environ.get("BENCH_SAMPLE_SECONDS", "6"))
        while time.perf_counter() - _t0 < dur:
            time.sleep(0.002)
            f = sys._current_frames().get(_main)
            seen = set()
            while f is not None:
                c = f.f_code
                key = f"{c.co_filename}:{c.co_name}"
                if key not in seen:
                    seen.add(key)
                    _counts[key] += 1
                f = f.f_back
            _n[0] += 1
        with open(_out + f".{os.getpid()}", "w") as fh:
            fh.write(f"samples {_n[0]} interval_s {dur / max(_n[0], 1):.5f}\n")
            for k, v in _counts.most_common(400):
                fh.write(f"{v}\t{k}\n")
    threading.Thread(target=_run, daemon=True).start()
"""


def seconds(m) -> float:
    h, mi, s = m
    return int(h) * 3600 + int(mi) * 60 + float(s)


def spawn_segment(log: str, user: str) -> list[str]:
    """The lines of the last spawn of ``user``: from the hub's "Initiating spawn" to the POST's reply."""
    lines = log.splitlines()
    starts = [i for i, line in enumerate(lines) if f"Initiating spawn for {user}" in line]
    if not starts:
        raise RuntimeError("no spawn in the log")
    i0 = starts[-1]
    for j in range(i0, len(lines)):
        if re.search(rf"(201|202) POST /hub/api/users/{user}/server", lines[j]):
            return lines[i0 : j + 1]
    return lines[i0:]


def stamp(line: str) -> tuple[re.Match | None, re.Match | None, float | None]:
    """A log line's hub/server match, proxy match, and time of day in seconds (None: no stamp)."""
    m = TS.match(line)
    cm = CHP_TS.match(line)
    return m, cm, seconds(m.groups()[1:4]) if m else seconds(cm.groups()) if cm else None


def timeline(seg: list[str], user: str) -> list[tuple[float, str]]:
    events: list[tuple[float, str]] = []
    first_server_line = None
    for line in seg:
        m, cm, t = stamp(line)
        if t is None:
            continue
        src = m.group(5) if m else "ConfigProxy"
        text = line[m.end() :] if m else line[cm.end() :]
        hub_line = src in ("DemoHub", "JupyterHub")
        spawn_step = (
            re.search(r"Initiating spawn|Calling Spawner.start|Spawning ", line)
            and "Server" not in src
        )
        hub_step = hub_line and re.search(
            r"Server at .* responded|took .* seconds to start|Adding user|(201|202) POST /hub/api/users/\S+/server|"
            r"Waiting .*for server|GET /hub/api \(|activity",
            line,
        )
        if spawn_step or hub_step:
            events.append((t, "hub: " + text.strip()[:110]))
        elif not hub_line and src != "ConfigProxy":
            if first_server_line is None:
                first_server_line = t
                events.append((t, f"server: first log line ({src} {text.strip()[:80]})"))
            if re.search(
                r"extension was successfully (linked|loaded)|took .*s to import|is running at|"
                r"Serving notebooks|Skipped non-installed|Loading extension",
                line,
            ):
                events.append((t, "server: " + text.strip()[:110]))
        elif src == "ConfigProxy" and "Route added" in line:
            events.append((t, "proxy: " + text.strip()[:110]))
    events.sort(key=lambda e: e[0])
    return events


def imports(seg: list[str]) -> dict:
    rows = []
    for line in seg:
        m = IMPORT.match(line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    per_pkg: dict[str, int] = defaultdict(int)
    for self_us, _, _, name in rows:
        per_pkg[name.split(".")[0]] += self_us
    top_level = sorted([(cum, name) for _, cum, indent, name in rows if indent == 1], reverse=True)
    return {
        "total_s": sum(r[0] for r in rows) / 1e6,
        "modules": len(rows),
        "per_package_self_s": sorted(((v / 1e6, k) for k, v in per_pkg.items()), reverse=True)[:25],
        "top_level_cumulative_s": [(c / 1e6, n) for c, n in top_level[:20]],
        # a refused import is still listed, with a few microseconds
        "rfc3987_syntax_imported": per_pkg.get("rfc3987_syntax", 0) > 1000,
        "lark_imported": any(r[3] == "lark" for r in rows),
    }


def phases(seg: list[str]) -> dict[str, float]:
    """Start-up phases of one spawn (seconds), from the hub's and the server's log timestamps."""
    marks: dict[str, float] = {}
    for line in seg:
        m, cm, t = stamp(line)
        if t is None:
            continue
        server_line = m is not None and m.group(5) not in ("JupyterHub", "DemoHub")
        for key, pattern in (
            ("request", r"Initiating spawn for"),
            ("popen", r"\] Spawning "),
            ("seen", r"Server at .* responded in"),
            ("route", r"Route added"),
        ):
            if key not in marks and re.search(pattern, line):
                marks[key] = t
        if server_line and "first" not in marks:
            marks["first"] = t
        if server_line and "is running at" in line and "listening" not in marks:
            marks["listening"] = t
    out = {}
    order = [
        ("request", "popen", "hub: request -> process started"),
        ("popen", "first", "server: exec + imports -> first log line"),
        ("first", "listening", "server: extensions, init -> listening"),
        ("listening", "seen", "hub: listening -> hub's poll sees it"),
        ("seen", "route", "hub: proxy route added"),
        ("request", "route", "total (request -> routed)"),
    ]
    for a, b, label in order:
        if a in marks and b in marks:
            out[label] = marks[b] - marks[a]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sides", default="ours,stock")
    p.add_argument(
        "--repeat", type=int, default=1, help="profiled spawns per side (phase medians over them)"
    )
    p.add_argument(
        "--no-importtime", action="store_true", help="time phases without -X importtime's overhead"
    )
    p.add_argument(
        "--sample", action="store_true", help="also sample the server's main thread stacks"
    )
    p.add_argument("--sample-seconds", type=float, default=6.0)
    p.add_argument(
        "--launcher",
        help="ours: run this copy of mentorhub_hub/singleuser.py instead of the installed one",
    )
    p.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE added to the servers' environment"
    )
    args = p.parse_args(argv)
    user = bench_users(1)[0]
    password = secrets.token_urlsafe(12)
    hashes = {user: hash_password(password)}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="mh-prof-"))
    os.chmod(root, 0o755)
    server_env = dict(e.split("=", 1) for e in args.env)
    if not args.no_importtime:
        server_env["PYTHONPROFILEIMPORTTIME"] = "1"
    spawner_cmd = None
    if args.launcher:
        shutil.copy(args.launcher, root / "launcher.py")
        os.chmod(root / "launcher.py", 0o644)
        spawner_cmd = [sys.executable, str(root / "launcher.py")]
    if args.sample:
        (root / "site").mkdir()
        (root / "site" / "sitecustomize.py").write_text(SAMPLER)
        (root / "samples").mkdir()
        os.chmod(root / "samples", 0o1777)
        server_env.update(
            PYTHONPATH=str(root / "site"),
            BENCH_SAMPLE_OUT=str(root / "samples" / "sample"),
            BENCH_SAMPLE_SECONDS=str(args.sample_seconds),
        )
    hubs = []
    try:
        for side in [s.strip() for s in args.sides.split(",") if s.strip()]:
            hub = SIDES[side](
                side,
                root,
                [user],
                password,
                profile_env=server_env,
                spawner_cmd=spawner_cmd if side == "ours" else None,
            )
            hubs.append(hub)
            hub.start(hashes)
            token = user_token(hub, user)
            warm = spawn(hub, user, token)
            stop(hub, user, token)
            all_phases: dict[str, list[float]] = defaultdict(list)
            client = []
            for _ in range(args.repeat):
                time.sleep(1)
                for f in (root / "samples").glob("*") if args.sample else []:
                    f.unlink()
                client.append(spawn(hub, user, token))
                time.sleep(args.sample_seconds + 0.5 if args.sample else 0.3)
                stop(hub, user, token)
                seg = spawn_segment(hub.log_path.read_text(errors="replace"), user)
                for k, v in phases(seg).items():
                    all_phases[k].append(v)
            hub.stop()
            shutil.copy(hub.log_path, RESULTS / f"profile-{stamp}-{side}.log")
            print(
                f"\n=== {side}: warm-up {warm:.2f}s; {args.repeat} profiled spawn(s), client-side median "
                f"{statistics.median(client):.2f}s ({', '.join(f'{c:.2f}' for c in client)})"
            )
            print("  phases (median over the profiled spawns):")
            for k, vs in all_phases.items():
                print(
                    f"    {statistics.median(vs):6.3f}s  {k}   [{', '.join(f'{v:.2f}' for v in vs)}]"
                )
            print("  timeline of the last spawn:")
            ev = timeline(seg, user)
            if ev:
                t0 = ev[0][0]
                for ts, what in ev:
                    print(f"  {ts - t0:7.3f}  {what}")
            if not args.no_importtime:
                im = imports(seg)
                print(
                    f"  imports: {im['modules']} modules, {im['total_s']:.2f}s total self time (importtime-inflated; "
                    f"rfc3987_syntax imported: {im['rfc3987_syntax_imported']}, lark: {im['lark_imported']})"
                )
                print("  self time per top-level package:")
                for s_, name in im["per_package_self_s"][:18]:
                    print(f"    {s_:6.3f}s  {name}")
                print("  slowest top-level imports (cumulative):")
                for s_, name in im["top_level_cumulative_s"][:12]:
                    print(f"    {s_:6.3f}s  {name}")
            if args.sample:
                for f in sorted((root / "samples").glob("*")):
                    text = f.read_text().splitlines()
                    n, interval = int(text[0].split()[1]), float(text[0].split()[3])
                    print(
                        f"  stack samples of the server's main thread over its first {args.sample_seconds:.0f}s "
                        f"({n} samples), top frames by inclusive time:"
                    )
                    shown = 0
                    for row in text[1:]:
                        c, key = row.split("\t", 1)
                        if "<frozen importlib" in key or "sitecustomize" in key:
                            continue
                        print(
                            f"    {int(c) * interval:6.3f}s  {key.replace(str(Path(sys.prefix)), '$VENV')}"
                        )
                        shown += 1
                        if shown >= 45:
                            break
    finally:
        for hub in hubs:
            hub.stop()
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
