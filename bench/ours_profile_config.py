"""mentorhub's installed JupyterHub configuration plus profiling switches (bench/profile_start.py).

Loads exactly what ``mentorhub demo`` loads (settings from ``MENTORHUB_*`` variables),
then, for profiling only: BENCH_DEBUG=1 (debug logs of hub and servers) and
BENCH_SERVER_ENV (JSON object added to the servers' environment), BENCH_SPAWNER_CMD
(JSON list replacing Spawner.cmd, to try a launcher before installing it).
"""

import json
import os
from importlib.resources import files

load_subconfig(str(files("mentorhub_hub") / "jupyterhub_config.py"))  # noqa: F821
c = get_config()  # noqa: F821

if os.environ.get("BENCH_DEBUG") == "1":
    c.JupyterHub.log_level = "DEBUG"
    c.Spawner.debug = True
if os.environ.get("BENCH_SERVER_ENV"):
    c.Spawner.environment = {**c.Spawner.environment, **json.loads(os.environ["BENCH_SERVER_ENV"])}
if os.environ.get("BENCH_SPAWNER_CMD"):
    c.Spawner.cmd = json.loads(os.environ["BENCH_SPAWNER_CMD"])
