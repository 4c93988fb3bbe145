"""Live providers: each project under gunicorn on a free loopback port, as it is deployed.

Why gunicorn processes rather than a WSGI server thread inside the verifier: the provider then runs
exactly as in production (its own process, settings, middleware and URLconf; the service
introspecting shopper tokens over HTTP at a real monolith process), and nothing the verifier does
in its own process (provider states, message production) can leak into the answers. The verifier
and the provider share only the SQLite file, which is what the states seed.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from contracts.providers.projects import Project
from strangler.testing import free_port, process_stop

BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


@dataclasses.dataclass
class Server:
    name: str
    url: str  # no trailing slash
    log: Path
    proc: subprocess.Popen[bytes]

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process_stop(self.proc)


def server_start(project: Project, env: dict[str, str], log: Path) -> Server:
    """Start gunicorn (one worker, a few threads); ``server_wait`` tells when it answers."""
    port = free_port()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(BIN / "gunicorn"), project.wsgi, "-b", f"127.0.0.1:{port}", "-w", "1", "-k", "gthread",
             "--threads", "4", "--graceful-timeout", "2"],
            cwd=project.cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    return Server(name=project.name, url=f"http://127.0.0.1:{port}", log=log, proc=proc)


def server_wait(server: Server, timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.proc.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer {server.url}/healthz within {timeout:.0f} s:\n"
                       f"{server.log_tail()}")
