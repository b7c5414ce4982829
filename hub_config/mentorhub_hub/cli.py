"""``mentorhub``: run the platform.

``mentorhub demo`` runs JupyterHub (with its proxy, the mentorhub service and the
per-user servers it spawns) in the foreground on embedded defaults, with the demo course
and accounts. Ctrl-C stops all of it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import sys
from importlib.resources import files

from jupyterhub.app import JupyterHub
from traitlets import Unicode

from . import course_cli
from .demo import DEMO_ROLES, ensure_demo_accounts
from .preflight import PreflightError, run_all
from .settings import MentorhubSettings, SettingsError


class DemoHub(JupyterHub):
    """JupyterHub that prints where to go and who to log in as, once it is up."""

    banner = Unicode("")

    async def start(self) -> None:
        await super().start()
        print(self.banner, flush=True)


def banner(s: MentorhubSettings, passwords: dict[str, str]) -> str:
    lines = [
        "",
        f"mentorhub is running at {s.public_url}/",
        f"data directory: {s.data_dir}",
        "demo accounts (username / password / role in the demo course):",
    ]
    lines += [f"  {u:<12} {passwords[u]:<14} {DEMO_ROLES[u]}" for u in DEMO_ROLES]
    if os.geteuid() != 0:
        account = pwd.getpwuid(os.geteuid()).pw_name
        lines += [
            f"single-account dev mode: every user's server runs as {account}, homes in "
            f"{s.data_dir}/homes; users are NOT isolated from each other (run as root for that)."
        ]
    lines += ["Press Ctrl-C to stop.", ""]
    return "\n".join(lines)


def demo(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env.update(
        MENTORHUB_PROFILE="local",
        MENTORHUB_DEMO="1",
        MENTORHUB_PORT=str(args.port),
        MENTORHUB_DATA_DIR=os.path.abspath(args.data_dir),
    )
    try:
        settings = MentorhubSettings.from_env(env)
        run_all(settings)
    except (SettingsError, PreflightError) as e:
        print(f"mentorhub: cannot start: {e}", file=sys.stderr)
        return 2
    passwords = ensure_demo_accounts(settings.data_dir)
    os.environ.update(settings.to_env())
    os.chdir(settings.data_dir)
    config_file = str(files("mentorhub_hub") / "jupyterhub_config.py")
    DemoHub.instance(banner=banner(settings, passwords))
    DemoHub.launch_instance(["-f", config_file])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mentorhub", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="run the platform with the demo course and accounts")
    p.add_argument(
        "--port", type=int, default=8000, help="public port (the next three are used too)"
    )
    p.add_argument(
        "--data-dir",
        default="mentorhub-data",
        help="where state is kept (default: ./mentorhub-data)",
    )
    p.set_defaults(func=demo)
    course_cli.add_parser(sub)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
