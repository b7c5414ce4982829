"""A stock JupyterHub, the baseline of bench/spawn.py.

Plain JupyterHub from the same environment: default LocalProcessSpawner running the
stock ``jupyterhub-singleuser`` with JupyterLab (default_url /lab) and every installed
server extension enabled as installed. Only what a hub needs to run beside mentorhub is
set: ports, state files, and a password login for the same unix accounts (mentorhub's
PasswordFileAuthenticator, so both sides spawn servers as the same kind of accounts).

Read by ``jupyterhub -f bench/stock_jupyterhub_config.py`` with these variables:
BENCH_STOCK_PORT (public port; proxy API, hub use the next two), BENCH_STOCK_DATA_DIR,
BENCH_PASSWORD_FILE. Optional, for bench/profile_start.py only: BENCH_DEBUG=1 (debug
logs of hub and servers), BENCH_SERVER_ENV (JSON object added to the servers' env).
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # noqa: F821

port = int(os.environ["BENCH_STOCK_PORT"])
data = Path(os.environ["BENCH_STOCK_DATA_DIR"])

c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = port
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = port + 2
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{port + 1}"
c.JupyterHub.db_url = f"sqlite:///{data / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(data / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(data / "jupyterhub.pid")

c.JupyterHub.authenticator_class = "mentorhub_hub.authenticator.PasswordFileAuthenticator"
c.PasswordFileAuthenticator.password_file = os.environ["BENCH_PASSWORD_FILE"]
c.PasswordFileAuthenticator.create_system_users = True  # accounts normally exist already

# the stock single-user server of this environment (absolute, not whatever is on PATH)
c.Spawner.cmd = [str(Path(sys.prefix) / "bin" / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
# The one change from JupyterHub's defaults (30 s to answer, 60 s to start): with the
# defaults, 29 of 30 stock servers started at once on 2 cores were given up after 30 s,
# so the benchmark had no all-ready time to compare. Longer limits change no speed.
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120

if os.environ.get("BENCH_DEBUG") == "1":
    c.JupyterHub.log_level = "DEBUG"
    c.Spawner.debug = True
if os.environ.get("BENCH_SERVER_ENV"):
    c.Spawner.environment = json.loads(os.environ["BENCH_SERVER_ENV"])
