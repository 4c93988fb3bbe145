"""Run a ProxyServer in its own process (for RSS measurements): `python -m strangler.tests.proxy_proc CONFIG`.

Prints the bound port, then serves until killed.
"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from strangler.proxy.config import load_config
from strangler.proxy.server import ProxyServer


async def main(path: str) -> None:
    server = ProxyServer(load_config(path))
    await server.start()
    print(server.port, flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1]))
