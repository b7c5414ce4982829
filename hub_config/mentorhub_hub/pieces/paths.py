"""Where the hub listens and keeps its state."""

from __future__ import annotations

from pathlib import Path

from traitlets.config import Config

from ..settings import MentorhubSettings


def apply(c: Config, s: MentorhubSettings) -> None:
    data = Path(s.data_dir)
    c.JupyterHub.ip = s.ip
    c.JupyterHub.port = s.port
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = s.hub_port
    c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{s.proxy_api_port}"
    c.ConfigurableHTTPProxy.command = [s.bin("configurable-http-proxy")]
    c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
    c.JupyterHub.pid_file = str(data / "jupyterhub.pid")
    c.JupyterHub.data_files_path = str(Path(s.python_prefix) / "share" / "jupyterhub")
    if s.subdomain_host:
        c.JupyterHub.subdomain_host = s.subdomain_host
