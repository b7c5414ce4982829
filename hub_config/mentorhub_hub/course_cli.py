"""``mentorhub course publish``: publish a course repository as its instructor.

Run it where a JupyterHub token of yours is at hand: in your own server's terminal it
uses ``$JUPYTERHUB_API_TOKEN`` and ``$MENTORHUB_SERVICE_URL`` as they are; elsewhere
pass ``--hub-url`` and a token (``--token`` or ``$MENTORHUB_TOKEN``). A URL is fetched by
the service; a local repository is sent to it as a git bundle, so the service never reads
your files directly.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

from mentorhub_server.publish import BUNDLE_TYPE, NotARepository, bundle_bytes

SERVICE_PREFIX = "/services/mentorhub/"


def service_base(args: argparse.Namespace) -> str:
    if args.hub_url:
        return args.hub_url.rstrip("/") + SERVICE_PREFIX
    return (
        os.environ.get("MENTORHUB_SERVICE_URL", "http://127.0.0.1:8003").rstrip("/")
        + SERVICE_PREFIX
    )


def publish(args: argparse.Namespace) -> int:
    token = (
        args.token or os.environ.get("MENTORHUB_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
    )
    if not token:
        print("mentorhub: no token: pass --token or set MENTORHUB_TOKEN", file=sys.stderr)
        return 2
    headers = {"Authorization": f"token {token}"}
    url = service_base(args) + "api/courses/publish"
    if os.path.isdir(args.source):
        try:
            data = bundle_bytes(Path(args.source))
        except NotARepository as e:
            print(f"mentorhub: {e}", file=sys.stderr)
            return 2
        query = {"source": os.path.basename(os.path.abspath(args.source))}
        if args.ref:
            query["ref"] = args.ref
        req = urllib.request.Request(
            url + "?" + urlencode(query),
            data=data,
            method="POST",
            headers={**headers, "Content-Type": BUNDLE_TYPE},
        )
        return _send(req)
    body = json.dumps({"source": args.source, "ref": args.ref}).encode()
    req = urllib.request.Request(
        url, data=body, method="POST", headers={**headers, "Content-Type": "application/json"}
    )
    return _send(req)


def _send(req: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(req, timeout=600) as resp:
            result = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        try:
            error = json.loads(e.read())
        except ValueError:
            error = {"message": str(e.reason)}
        print(f"mentorhub: not published: {error.get('message')}", file=sys.stderr)
        for p in error.get("problems", []):
            where = (
                p
                if isinstance(p, str)
                else p["file"] + (f" [{p['cell']}]" if p.get("cell") else "")
            )
            print(
                f"  - {where}" + ("" if isinstance(p, str) else f": {p['message']}"),
                file=sys.stderr,
            )
        return 1
    except OSError as e:
        print(f"mentorhub: cannot reach the mentorhub service: {e}", file=sys.stderr)
        return 2
    state = "published" if result["new"] else "already published"
    print(
        f"{result['course']}: {state} as version {result['version']} (commit {result['commit'][:12]})"
    )
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    course = sub.add_parser("course", help="work with courses").add_subparsers(
        dest="course_command", required=True
    )
    p = course.add_parser("publish", help="publish a course repository (git URL or local path)")
    p.add_argument("source", help="https git URL, or a local git repository")
    p.add_argument("--ref", help="branch, tag or commit (default: the repository's HEAD)")
    p.add_argument(
        "--hub-url",
        help="the hub's public URL (default: $MENTORHUB_SERVICE_URL, as in your server)",
    )
    p.add_argument(
        "--token",
        help="your JupyterHub API token (default: $MENTORHUB_TOKEN or $JUPYTERHUB_API_TOKEN)",
    )
    p.set_defaults(func=publish)
