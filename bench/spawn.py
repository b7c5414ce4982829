#!/usr/bin/env python
"""Server start-up benchmark: mentorhub vs a stock JupyterHub, on this machine, as root.

    .venv/bin/python bench/spawn.py            # both sides, about 4 min on 2 cores

Two hubs run side by side on free loopback ports, each with a fresh temporary data
directory: ``ours`` (``mentorhub demo``) and ``stock`` (bench/stock_jupyterhub_config.py:
plain JupyterHub, stock jupyterhub-singleuser, JupyterLab). Both log in the same bench
accounts (unix accounts mhbench01..30, created by the hub as root on first use). Then:

- warm-up: one spawn per side, not counted, with a check that the server answers through
  the proxy and serves JupyterLab at /lab;
- sequential: N (10) spawns of mhbench01 per side, the sides taking turns, each timed from
  the spawn request (POST /hub/api/users/<name>/server) until the hub reports the server
  ready (the POST's 201, or the ``ready`` event of its progress stream after a 202), then
  stopped (DELETE) and gone from the hub's model before the next;
- at once: M (30) users' spawns requested together, one side at a time; all-ready time is
  from the requests to the last server ready.

Prints a table, the ratios ours/stock and whether the target (our median <= 1/5 of
stock's) is met; writes JSON and the hub logs to bench/results/. Every hub, proxy,
service and user server started here is stopped at the end, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import requests

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "results"
BIN = Path(sys.prefix) / "bin"
sys.path.insert(0, str(REPO / "tests"))
from hubtools import free_port_block, hub_processes  # noqa: E402
from mentorhub_hub.authenticator import hash_password, write_password_file  # noqa: E402
from mentorhub_hub.demo import DEMO_ROLES  # noqa: E402

USER_PREFIX = "mhbench"
TARGET_RATIO = 1 / 5


def bench_users(n: int) -> list[str]:
    return [f"{USER_PREFIX}{i:02d}" for i in range(1, n + 1)]


# --- hubs --------------------------------------------------------------------------------


class HubProcess:
    """One hub (with its proxy, services and user servers) in a subprocess of its own."""

    def __init__(
        self,
        name: str,
        root: Path,
        users: list[str],
        password: str,
        profile_env: dict | None = None,
        spawner_cmd: list[str] | None = None,
    ):
        self.name = name
        self.data_dir = root / name
        self.data_dir.mkdir(mode=0o700, parents=True)
        self.log_path = root / f"{name}-hub.log"
        self.port = free_port_block(4)
        self.url = f"http://127.0.0.1:{self.port}"
        self.hub_port = self.port + 2
        self.proxy_api_port = self.port + 1
        self.users = users
        self.password = password
        self.profile_env = profile_env  # None: the real thing; else debug + server env (profiling)
        self.spawner_cmd = spawner_cmd  # profiling ours only: try another launcher
        self.extra_env: dict[
            str, str
        ] = {}  # profiling only: switches of bench/ours_profile_config.py
        self.proc: subprocess.Popen | None = None
        self._log = None

    # what differs between the sides
    def command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def prepare(self, hashes: dict[str, str]) -> None:
        raise NotImplementedError

    def is_up(self) -> bool:
        r = requests.get(f"{self.url}/hub/api/", timeout=2)
        return r.status_code == 200

    def start(self, hashes: dict[str, str], timeout: float = 120) -> None:
        self.prepare(hashes)
        cmd, env = self.command()
        base_env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MENTORHUB_", "BENCH_", "JUPYTERHUB_"))
        }
        base_env["PATH"] = f"{BIN}:{base_env.get('PATH', '/usr/bin:/bin')}"
        if self.profile_env is not None:
            base_env["BENCH_DEBUG"] = "1"
            base_env["BENCH_SERVER_ENV"] = json.dumps(self.profile_env)
        if self.spawner_cmd:
            base_env["BENCH_SPAWNER_CMD"] = json.dumps(self.spawner_cmd)
        base_env.update(self.extra_env)
        self._log = open(self.log_path, "ab")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            cmd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**base_env, **env},
            cwd=self.data_dir,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} hub exited {self.proc.returncode}:\n{self.log_tail()}"
                )
            try:
                if self.is_up():
                    return
            except requests.RequestException:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{self.name} hub did not come up:\n{self.log_tail()}")

    def log_tail(self, n: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-n:]

    def stop(self, timeout: float = 90) -> None:
        """SIGINT (the hub stops its servers, proxy and services), then make sure of it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for pid in self.leftover_pids():
            print(f"  [{self.name}] killing leftover process {pid}", file=sys.stderr)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._log:
            self._log.close()
            self._log = None

    def leftover_pids(self) -> list[int]:
        """Processes of this hub still alive: the hub, its proxy, its servers and services."""
        return hub_processes(self.hub_port, self.proxy_api_port, self.proc and self.proc.pid)


class Ours(HubProcess):
    """``mentorhub demo`` (or, when profiling, the same configuration via jupyterhub -f)."""

    def prepare(self, hashes: dict[str, str]) -> None:
        accounts = self.data_dir / "accounts"
        demo_pw = {u: secrets.token_urlsafe(9) for u in DEMO_ROLES}
        # ensure_demo_accounts keeps both files when demo-accounts.json names the demo users
        write_password_file(
            accounts / "passwords.json",
            {**{u: hash_password(p) for u, p in demo_pw.items()}, **hashes},
        )
        fd = os.open(accounts / "demo-accounts.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(demo_pw, f)

    def command(self) -> tuple[list[str], dict[str, str]]:
        if self.profile_env is None:
            return [
                str(BIN / "mentorhub"),
                "demo",
                "--port",
                str(self.port),
                "--data-dir",
                str(self.data_dir),
            ], {}
        from mentorhub_hub.settings import MentorhubSettings

        env = MentorhubSettings.from_env(
            {
                "MENTORHUB_PROFILE": "local",
                "MENTORHUB_DEMO": "1",
                "MENTORHUB_PORT": str(self.port),
                "MENTORHUB_DATA_DIR": str(self.data_dir),
            }
        ).to_env()
        return [str(BIN / "jupyterhub"), "-f", str(HERE / "ours_profile_config.py")], env

    def is_up(self) -> bool:
        # up when the hub answers and the mentorhub service is behind the proxy
        if not super().is_up():
            return False
        return requests.get(f"{self.url}/services/mentorhub/api/me", timeout=2).status_code == 401


class Stock(HubProcess):
    def prepare(self, hashes: dict[str, str]) -> None:
        write_password_file(self.data_dir / "passwords.json", hashes)

    def command(self) -> tuple[list[str], dict[str, str]]:
        return [str(BIN / "jupyterhub"), "-f", str(HERE / "stock_jupyterhub_config.py")], {
            "BENCH_STOCK_PORT": str(self.port),
            "BENCH_STOCK_DATA_DIR": str(self.data_dir),
            "BENCH_PASSWORD_FILE": str(self.data_dir / "passwords.json"),
        }


SIDES = {"ours": Ours, "stock": Stock}


# --- talking to a hub ---------------------------------------------------------------------


def user_token(hub: HubProcess, user: str) -> str:
    """Log in with the form, then make an API token as that user would on /hub/token."""
    s = requests.Session()
    s.get(f"{hub.url}/hub/login", timeout=10)
    r = s.post(
        f"{hub.url}/hub/login",
        data={"username": user, "password": hub.password, "_xsrf": s.cookies.get("_xsrf")},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, (user, r.status_code, r.text[:300])
    r = s.post(
        f"{hub.url}/hub/api/users/{user}/tokens",
        json={"note": "bench"},
        headers={"X-XSRFToken": s.cookies.get("_xsrf")},
        timeout=30,
    )
    assert r.status_code == 201, (user, r.status_code, r.text[:300])
    return r.json()["token"]


def spawn(hub: HubProcess, user: str, token: str, timeout: float = 300) -> float:
    """Request the server; return seconds until the hub reports it ready."""
    h = {"Authorization": f"token {token}"}
    t0 = time.perf_counter()
    r = requests.post(f"{hub.url}/hub/api/users/{user}/server", headers=h, timeout=timeout)
    if r.status_code == 201:  # started within the hub's slow_spawn_timeout
        return time.perf_counter() - t0
    if r.status_code != 202:
        raise RuntimeError(f"{hub.name}: spawn {user}: {r.status_code} {r.text[:300]}")
    with requests.get(
        f"{hub.url}/hub/api/users/{user}/server/progress", headers=h, stream=True, timeout=timeout
    ) as resp:
        resp.raise_for_status()
        for line in resp.iter_lines():
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("ready"):
                return time.perf_counter() - t0
            if event.get("failed"):
                raise RuntimeError(f"{hub.name}: spawn {user} failed: {event.get('message')}")
    raise RuntimeError(f"{hub.name}: progress stream of {user} ended without ready")


def stop(hub: HubProcess, user: str, token: str, timeout: float = 120) -> None:
    """Stop the server and wait until the hub no longer lists it."""
    h = {"Authorization": f"token {token}"}
    r = requests.delete(f"{hub.url}/hub/api/users/{user}/server", headers=h, timeout=timeout)
    if r.status_code not in (202, 204):
        raise RuntimeError(f"{hub.name}: stop {user}: {r.status_code} {r.text[:300]}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            not requests.get(f"{hub.url}/hub/api/users/{user}", headers=h, timeout=30)
            .json()
            .get("servers")
        ):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{hub.name}: {user}'s server did not stop")


def check_server(hub: HubProcess, user: str, token: str) -> dict:
    """The server answers through the proxy, serves JupyterLab at /lab; mentorhub's API if ours."""
    h = {"Authorization": f"token {token}"}
    base = f"{hub.url}/user/{user}"
    lab = requests.get(f"{base}/lab", headers=h, timeout=30)
    out = {
        "api_status": requests.get(f"{base}/api/status", headers=h, timeout=30).status_code,
        "lab": lab.status_code,
    }
    m = re.search(
        r'<script id="jupyter-config-data" type="application/json">(.*?)</script>', lab.text, re.S
    )
    if m:  # JupyterLab extensions switched off in this user's lab
        disabled = json.loads(m.group(1)).get("disabledExtensions", [])
        out["lab_disabled"] = sorted(
            k for k in disabled if not isinstance(disabled, dict) or disabled[k]
        )
    if isinstance(hub, Ours):
        out["mentorhub_api"] = requests.get(
            f"{base}/mentorhub/api/me", headers=h, timeout=30
        ).status_code
    ok = out["api_status"] == 200 and out["lab"] == 200 and out.get("mentorhub_api", 200) != 404
    if not ok:
        raise RuntimeError(f"{hub.name}: {user}'s server is not right: {out}")
    return out


# --- the measurements -----------------------------------------------------------------------


def summary(xs: list[float]) -> dict:
    xs = sorted(xs)
    return {
        "n": len(xs),
        "median": statistics.median(xs),
        "p90": statistics.quantiles(xs, n=10, method="inclusive")[8] if len(xs) > 1 else xs[0],
        "min": xs[0],
        "max": xs[-1],
        "mean": statistics.fmean(xs),
    }


def warm_up(hub: HubProcess, tokens: dict[str, str], log=print) -> dict:
    """One spawn not counted (first use of the account, caches), and a check of the server."""
    user = hub.users[0]
    t = spawn(hub, user, tokens[user])
    check = check_server(hub, user, tokens[user])
    stop(hub, user, tokens[user])
    log(f"  [{hub.name}] warm-up spawn {t:.2f}s, server check {check}")
    return {"side": hub.name, "warmup": t, "check": check}


def sequential(
    hubs: list[HubProcess], tokens: dict[str, dict[str, str]], n: int, log=print
) -> dict[str, list[float]]:
    """n spawns per hub, the hubs taking turns (in alternating order), so that anything else
    running on the machine slows both sides alike."""
    times: dict[str, list[float]] = {hub.name: [] for hub in hubs}
    for i in range(n):
        for hub in hubs if i % 2 == 0 else hubs[::-1]:
            user = hub.users[0]
            time.sleep(1)  # let the previous server's exit settle
            t = spawn(hub, user, tokens[hub.name][user])
            times[hub.name].append(t)
            stop(hub, user, tokens[hub.name][user])
            log(f"  [{hub.name}] sequential {i + 1}/{n}: {t:.2f}s")
    return times


def at_once(hub: HubProcess, tokens: dict[str, str], n: int, log=print) -> dict:
    """n users' spawns requested together; all-ready is when the last one is ready."""
    users = hub.users[:n]
    barrier = threading.Barrier(len(users))
    load = os.getloadavg()
    t0 = time.perf_counter()

    def one(u):
        barrier.wait()
        return spawn(hub, u, tokens[u])

    with concurrent.futures.ThreadPoolExecutor(len(users)) as pool:
        futures = {u: pool.submit(one, u) for u in users}
        per_user = {}
        errors = {}
        for u, f in futures.items():
            try:
                per_user[u] = f.result()
            except Exception as e:  # a failed spawn is a result too
                errors[u] = str(e)
    all_ready = time.perf_counter() - t0
    log(
        f"  [{hub.name}] {len(users)} at once: all ready after {all_ready:.2f}s"
        + (f", {len(errors)} FAILED" if errors else "")
    )
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda u: stop(hub, u, tokens[u]), users))
    return {
        "users": len(users),
        "all_ready": all_ready if not errors else None,
        "failed": errors,
        "per_user": per_user,
        "loadavg_before": load,
        **({"per_user_summary": summary(list(per_user.values()))} if per_user else {}),
    }


def fmt(x: float | None) -> str:
    return "  failed" if x is None else f"{x:7.2f}s"


def ratio(a: float | None, b: float | None) -> str:
    return "   n/a" if a is None or b is None else f"{a / b:6.2f}"


def report(results: dict) -> list[str]:
    ours, stock = (
        results.get(s) if "sequential" in results.get(s, {}) else None for s in ("ours", "stock")
    )
    rows = [
        ("sequential median", lambda r: r["sequential"]["median"]),
        ("sequential p90", lambda r: r["sequential"]["p90"]),
        ("sequential min", lambda r: r["sequential"]["min"]),
        ("sequential max", lambda r: r["sequential"]["max"]),
        ("warm-up (1st) spawn", lambda r: r["warmup"]),
    ]
    if (ours or stock or {}).get("at_once"):
        n = (ours or stock)["at_once"]["users"]
        rows += [
            (f"{n} at once: all ready", lambda r: r.get("at_once", {}).get("all_ready")),
            (
                f"{n} at once: median each",
                lambda r: r.get("at_once", {}).get("per_user_summary", {}).get("median"),
            ),
        ]
    lines = [f"{'':26} {'ours':>8} {'stock':>8} {'ours/stock':>10}"]
    for label, get in rows:
        a = get(ours) if ours else None
        b = get(stock) if stock else None
        lines.append(
            f"{label:26} {fmt(a) if ours else '       -'} {fmt(b) if stock else '       -'} {ratio(a, b):>10}"
        )
    if ours and stock:
        a, b = ours["sequential"]["median"], stock["sequential"]["median"]
        met = a <= TARGET_RATIO * b
        lines.append("")
        lines.append(
            f"target: our median <= 1/5 of stock's ({TARGET_RATIO * b:.2f}s): "
            f"{'MET' if met else 'NOT met'} (ours/stock = {a / b:.2f})"
        )
        results["target"] = {"ratio_median": a / b, "limit": TARGET_RATIO, "met": met}
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sides", default="ours,stock", help="comma-separated: ours, stock (default: both)"
    )
    p.add_argument(
        "-n", "--sequential", type=int, default=10, help="sequential spawns per side (default 10)"
    )
    p.add_argument(
        "-m", "--at-once", type=int, default=30, help="users spawned at once (default 30; 0 skips)"
    )
    p.add_argument("--keep", action="store_true", help="keep the temporary data directories")
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print(
            "bench/spawn.py runs as root: servers are spawned as per-user unix accounts",
            file=sys.stderr,
        )
        return 2
    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    load = os.getloadavg()[0]
    if load > 0.5:
        print(
            f"note: load average {load:.1f} before the run; other work on this machine skews the numbers",
            flush=True,
        )
    users = bench_users(max(args.at_once, 1))
    password = secrets.token_urlsafe(12)
    hashes = {u: hash_password(password) for u in users}

    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root = Path(tempfile.mkdtemp(prefix="mh-bench-"))
    results: dict = {
        "when": stamp,
        "host": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "machine": platform.machine(),
        },
        "params": {"sequential": args.sequential, "at_once": args.at_once, "user": users[0]},
        "versions": versions(),
    }
    hubs: list[HubProcess] = []

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    code = 0
    try:
        tokens: dict[str, dict[str, str]] = {}
        for side in sides:
            hub = SIDES[side](side, root, users, password)
            hubs.append(hub)
            print(f"[{side}] starting hub on port {hub.port} (data {hub.data_dir})", flush=True)
            t = time.perf_counter()
            hub.start(hashes)
            print(
                f"  [{side}] hub up in {time.perf_counter() - t:.1f}s; logging in {len(users)} users",
                flush=True,
            )
            tokens[side] = {u: user_token(hub, u) for u in users}
        log = lambda s: print(s, flush=True)  # noqa: E731
        for hub in hubs:
            results[hub.name] = warm_up(hub, tokens[hub.name], log)
        load = os.getloadavg()
        for name, times in sequential(hubs, tokens, args.sequential, log).items():
            results[name]["sequential"] = {"times": times, **summary(times), "loadavg_before": load}
        if args.at_once:
            for hub in hubs:
                time.sleep(2)
                results[hub.name]["at_once"] = at_once(hub, tokens[hub.name], args.at_once, log)
        for hub in hubs:
            hub.stop()
            shutil.copy(hub.log_path, RESULTS / f"spawn-{stamp}-{hub.name}-hub.log")
    except BaseException as e:
        code = 1
        print(f"bench failed: {type(e).__name__}: {e}", file=sys.stderr)
        for hub in hubs:
            if hub.log_path.exists():
                shutil.copy(hub.log_path, RESULTS / f"spawn-{stamp}-{hub.name}-hub.log")
        if not isinstance(e, Exception):
            code = 130
    finally:
        for hub in hubs:
            hub.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)

    if any("sequential" in results.get(s, {}) for s in SIDES):
        print()
        for line in report(results):
            print(line)
        out = RESULTS / f"spawn-{stamp}.json"
        out.write_text(json.dumps(results, indent=1))
        print(f"\nresults: {out.relative_to(REPO)} (hub logs beside it)")
    return code


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "jupyterhub",
        "jupyter_server",
        "jupyterlab",
        "notebook",
        "voila",
        "nbgrader",
        "jupyter-lsp",
        "mentorhub",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


if __name__ == "__main__":
    sys.exit(main())
