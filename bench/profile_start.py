#!/usr/bin/env python
"""Where one server's start-up time goes, ours and stock (companion of bench/spawn.py).

    .venv/bin/python bench/profile_start.py [--sides ours,stock] [--sample]

Starts each hub with debug logs (hub and server) and ``PYTHONPROFILEIMPORTTIME=1`` in
the servers' environment, spawns mhbench01 once to warm up and once more to profile,
and prints for the profiled spawn: a timeline (request, process spawned, first server
log line, extensions linked/loaded, listening, seen ready by the hub, proxy route,
response), the total import time and the biggest imports (self time summed per
top-level package, and the slowest top-level imports by cumulative time).
``--sample`` also runs a small in-process stack sampler in the server (via a
sitecustomize on PYTHONPATH) for its first seconds and prints where the time went.
Logs go to bench/results/profile-<stamp>-<side>.log.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
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

SAMPLER = r'''
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
'''


def seconds(m) -> float:
    h, mi, s = m
    return int(h) * 3600 + int(mi) * 60 + float(s)


def spawn_segment(log: str, user: str) -> list[str]:
    """The lines of the last spawn of ``user``: from the hub's "Initiating spawn" to the POST's reply."""
    lines = log.splitlines()
    starts = [i for i, l in enumerate(lines) if f"Initiating spawn for {user}" in l]
    if not starts:
        raise RuntimeError("no spawn in the log")
    i0 = starts[-1]
    for j in range(i0, len(lines)):
        if re.search(rf"(201|202) POST /hub/api/users/{user}/server", lines[j]):
            return lines[i0: j + 1]
    return lines[i0:]


def timeline(seg: list[str], user: str) -> list[tuple[float, str]]:
    events: list[tuple[float, str]] = []
    first_server_line = None
    for line in seg:
        m = TS.match(line)
        cm = CHP_TS.match(line)
        t = seconds(m.groups()[1:4]) if m else seconds(cm.groups()) if cm else None
        if t is None:
            continue
        src = m.group(5) if m else "ConfigProxy"
        text = line[m.end():] if m else line[cm.end():]
        hub_line = src in ("DemoHub", "JupyterHub") or re.match(r"\w+:\d+\]", src or "")
        if re.search(r"Initiating spawn|Calling Spawner.start|Spawning ", line) and "Server" not in src:
            events.append((t, "hub: " + text.strip()[:110]))
        elif hub_line and re.search(r"Server at .* responded|took .* seconds to start|Adding user|"
                                    r"201 POST /hub/api/users/\S+/server|202 POST /hub/api/users/\S+/server|"
                                    r"Waiting .*for server|GET /hub/api \(|activity", line):
            events.append((t, "hub: " + text.strip()[:110]))
        elif not hub_line and src != "ConfigProxy":
            if first_server_line is None:
                first_server_line = t
                events.append((t, f"server: first log line ({src} {text.strip()[:80]})"))
            if re.search(r"extension was successfully (linked|loaded)|took .*s to import|is running at|"
                         r"Serving notebooks|Skipped non-installed|Loading extension", line):
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
        "rfc3987_syntax_imported": any(r[3] == "rfc3987_syntax" and r[0] > 1000 for r in rows),
        "lark_imported": any(r[3] == "lark" for r in rows),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sides", default="ours,stock")
    p.add_argument("--sample", action="store_true", help="also sample the server's main thread stacks")
    p.add_argument("--sample-seconds", type=float, default=6.0)
    args = p.parse_args(argv)
    user = bench_users(1)[0]
    password = secrets.token_urlsafe(12)
    hashes = {user: hash_password(password)}
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    RESULTS.mkdir(exist_ok=True)
    root = Path(tempfile.mkdtemp(prefix="mh-prof-"))
    os.chmod(root, 0o755)
    server_env = {"PYTHONPROFILEIMPORTTIME": "1"}
    sample_out = root / "samples" / "sample"
    if args.sample:
        (root / "site").mkdir()
        (root / "site" / "sitecustomize.py").write_text(SAMPLER)
        (root / "samples").mkdir(mode=0o1777)
        os.chmod(root / "samples", 0o1777)
        server_env.update(PYTHONPATH=str(root / "site"), BENCH_SAMPLE_OUT=str(sample_out),
                          BENCH_SAMPLE_SECONDS=str(args.sample_seconds))
    hubs = []
    try:
        for side in [s.strip() for s in args.sides.split(",") if s.strip()]:
            hub = SIDES[side](side, root, [user], password, profile_env=server_env)
            hubs.append(hub)
            hub.start(hashes)
            token = user_token(hub, user)
            warm = spawn(hub, user, token)
            stop(hub, user, token)
            time.sleep(1)
            for f in (root / "samples").glob("*") if args.sample else []:
                f.unlink()
            t = spawn(hub, user, token)
            time.sleep(args.sample_seconds + 0.5 if args.sample else 0.5)
            stop(hub, user, token)
            hub.stop()
            log = hub.log_path.read_text(errors="replace")
            shutil.copy(hub.log_path, RESULTS / f"profile-{stamp}-{side}.log")
            seg = spawn_segment(log, user)
            print(f"\n=== {side}: warm-up {warm:.2f}s, profiled spawn {t:.2f}s (client-side)")
            ev = timeline(seg, user)
            if ev:
                t0 = ev[0][0]
                for ts, what in ev:
                    print(f"  {ts - t0:7.3f}  {what}")
            im = imports(seg)
            print(f"  imports: {im['modules']} modules, {im['total_s']:.2f}s total self time "
                  f"(rfc3987_syntax imported: {im['rfc3987_syntax_imported']}, lark: {im['lark_imported']})")
            print("  self time per top-level package:")
            for s, name in im["per_package_self_s"][:18]:
                print(f"    {s:6.3f}s  {name}")
            print("  slowest top-level imports (cumulative):")
            for s, name in im["top_level_cumulative_s"][:12]:
                print(f"    {s:6.3f}s  {name}")
            if args.sample:
                for f in sorted((root / "samples").glob("*")):
                    text = f.read_text().splitlines()
                    n = int(text[0].split()[1])
                    print(f"  stack samples ({text[0]}), top frames by inclusive share:")
                    shown = 0
                    for row in text[1:]:
                        c, key = row.split("\t", 1)
                        if "<frozen importlib" in key or "sitecustomize" in key:
                            continue
                        print(f"    {int(c) / n:5.1%}  {key.replace(str(Path(sys.prefix)), '$VENV')}")
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
