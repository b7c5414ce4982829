"""Local process spawners that report a server as started when its port answers.

JupyterHub checks a new server's URL with exponential back-off (random waits of up to
0.2, 0.4, 0.8, 1.6 s ...), which on a fast-starting server costs more than the start
itself (bench/profile_start.py: 0.4 s median, up to 1.8 s). These spawners return from
``start()`` only once the server's port accepts connections (or the process died, or
``http_timeout`` passed), so the hub's first check already succeeds.
"""

from __future__ import annotations

import asyncio

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from traitlets import Float


class MentorhubLocalSpawner(LocalProcessSpawner):
    """Each server as its user's own unix account (the hub runs as root); started = port open."""

    port_poll_interval = Float(
        0.02,
        min=0.001,
        config=True,
        help="Seconds between connection attempts to a starting server's port.",
    )

    async def start(self) -> tuple[str, int]:
        ip, port = await super().start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.http_timeout
        while loop.time() < deadline and self.proc.poll() is None:
            try:
                _, writer = await asyncio.open_connection(ip or "127.0.0.1", port)
            except OSError:
                await asyncio.sleep(self.port_poll_interval)
                continue
            writer.close()
            break
        return ip, port


class MentorhubDevSpawner(MentorhubLocalSpawner, SimpleLocalProcessSpawner):
    """Single-account dev mode: every server as the account running the hub. No isolation."""
