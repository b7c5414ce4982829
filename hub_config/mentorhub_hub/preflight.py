"""Checks made before anything starts, so a bad start fails fast with one clear message."""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from .settings import MentorhubSettings


class PreflightError(RuntimeError):
    """Starting would fail; the message says why and what to do."""


def check_ports(s: MentorhubSettings) -> None:
    for port, role in (
        (s.port, "public proxy"),
        (s.proxy_api_port, "proxy API"),
        (s.hub_port, "hub"),
        (s.service_port, "mentorhub service"),
    ):
        ip = s.ip if role == "public proxy" else "127.0.0.1"
        with socket.socket() as sock:
            # as the servers themselves bind: a port left in TIME_WAIT by the last run is free
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((ip, port))
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise PreflightError(
                        f"port {port} on {ip} ({role}) is already in use; "
                        f"stop what uses it or choose another base port with --port "
                        f"(mentorhub uses {s.port}-{s.service_port})"
                    ) from None
                raise PreflightError(
                    f"cannot listen on {ip}:{port} ({role}): {e.strerror}"
                ) from None


def check_database(url: str, what: str) -> None:
    if url.startswith("sqlite:///"):
        parent = Path(url[len("sqlite:///") :]).parent
        if not os.access(parent, os.W_OK):
            raise PreflightError(f"{what} database directory {parent} is not writable")
        return
    engine = create_engine(url, connect_args={"connect_timeout": 5})
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as e:
        reason = str(e.orig if getattr(e, "orig", None) else e).strip().splitlines()[0]
        raise PreflightError(f"{what} database {_redact(url)} is unreachable: {reason}") from None
    finally:
        engine.dispose()


def check_executables(s: MentorhubSettings) -> None:
    for name in ("configurable-http-proxy", "mentorhub-singleuser", "mentorhub-service"):
        if not os.access(s.bin(name), os.X_OK):
            raise PreflightError(f"{s.bin(name)} is missing: run ./install.sh first")


def run_all(s: MentorhubSettings) -> None:
    Path(s.data_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    check_executables(s)
    check_ports(s)
    check_database(s.hub_db_url, "hub")
    check_database(s.service_db_url, "service")


def _redact(url: str) -> str:
    """Drop the password from a database URL before it is shown."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
