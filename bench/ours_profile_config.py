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

if os.environ.get("BENCH_READY_WAIT") == "1":
    # EXPERIMENT (bench/profile_start.py --ready-wait), not mentorhub's configuration: what
    # JupyterHub's readiness polling costs. This spawner's start() returns only once the
    # server's port accepts connections (checked every 10 ms), so the hub's first HTTP
    # check succeeds instead of backing off (random waits of up to 0.2, 0.4, 0.8, 1.6 s...).
    import asyncio

    from jupyterhub.spawner import LocalProcessSpawner

    class ReadyWaitSpawner(LocalProcessSpawner):
        async def start(self):
            ip, port = await super().start()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self.http_timeout
            while loop.time() < deadline and self.proc.poll() is None:
                try:
                    _, writer = await asyncio.open_connection(ip, port)
                except OSError:
                    await asyncio.sleep(0.01)
                    continue
                writer.close()
                break
            return ip, port

    c.JupyterHub.spawner_class = ReadyWaitSpawner
