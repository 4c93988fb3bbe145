"""Run the local stack's processes under supervisord (the kept library `supervisor`, not a loop of
our own): each in its own process group, started in order, restarted when it exits unexpectedly,
every start, exit and restart said on the terminal (supervisord's log), and each process's output
in `<var>/log/<name>.log`. `supervisorctl -c <var>/supervisord.conf status` shows them.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Protocol

BIN = Path(sys.executable).parent
# A process that exits within this many seconds of its start did not start; after this many such
# tries in a row supervisord gives up on it (FATAL) and says so.
START_SECONDS = 2
START_RETRIES = 5
# How long a process has to stop after SIGTERM before its whole group is killed (a Celery worker
# finishes the tasks it holds; gunicorn its requests).
STOP_WAIT_SECONDS = 15
LOG_BYTES = 10 * 1024 * 1024
LOG_BACKUPS = 2
CTL_USER = "stack"


class Program(Protocol):
    """What supervisord needs of a process (deploy/local/stack.py's Proc)."""

    name: str
    cmd: list[str]
    env: dict[str, str]
    cwd: Path
    priority: int


def _escape(value: str) -> str:
    """supervisord interpolates `%(name)s` in its values: a literal percent sign is doubled."""
    return value.replace("%", "%%")


def _environment(env: Mapping[str, str]) -> str:
    for key, value in env.items():
        if '"' in value or "\n" in value:
            raise ValueError(f"{key}: supervisord cannot pass a value with a quote or a newline")
    return ",".join(f'{key}="{_escape(value)}"' for key, value in env.items())


def _quote_arg(arg: str) -> str:
    return _escape(f'"{arg}"' if (" " in arg or not arg) else arg)


def render_conf(programs: Iterable[Program], *, var: Path, password: str) -> str:
    """supervisord.conf for `programs`, its log, pid file and control socket under `var` (the
    socket is the owner's only, and asks for `password`, which the file keeps for supervisorctl)."""
    log, sock = var / "log", _escape(str(var / "supervisor.sock"))
    auth = [f"username={CTL_USER}", f"password={password}"]
    lines = [
        "[supervisord]", "nodaemon=true", f"logfile={_escape(str(log / 'supervisord.log'))}",
        f"pidfile={_escape(str(var / 'supervisord.pid'))}", f"childlogdir={_escape(str(log))}", "loglevel=info",
        # as whoever runs it; said outright for root, or supervisord warns that it did not drop privileges
        "user=root" if os.geteuid() == 0 else "",
        "[unix_http_server]", f"file={sock}", "chmod=0700", *auth,
        "[rpcinterface:supervisor]", "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]", f"serverurl=unix://{sock}", *auth,
    ]
    for program in programs:
        lines += [
            f"[program:{program.name}]",
            "command=" + " ".join(_quote_arg(arg) for arg in program.cmd),
            f"directory={_escape(str(program.cwd))}",
            f"environment={_environment(program.env)}" if program.env else "",
            f"priority={program.priority}", "autostart=true", "autorestart=true",
            f"startsecs={START_SECONDS}", f"startretries={START_RETRIES}",
            "stopsignal=TERM", f"stopwaitsecs={STOP_WAIT_SECONDS}", "stopasgroup=true", "killasgroup=true",
            "redirect_stderr=true", f"stdout_logfile={_escape(str(log / (program.name + '.log')))}",
            f"stdout_logfile_maxbytes={LOG_BYTES}", f"stdout_logfile_backups={LOG_BACKUPS}",
        ]
    return "\n".join(line for line in lines if line) + "\n"


def conf_path(var: Path) -> Path:
    return var / "supervisord.conf"


def start(programs: Iterable[Program], *, var: Path, env: Mapping[str, str],
          output: int | None = None) -> subprocess.Popen:
    """Write the config and start supervisord in the foreground of a session of its own (Ctrl-C
    reaches our caller, which stops it: every program is stopped in reverse priority order)."""
    (var / "log").mkdir(parents=True, exist_ok=True)
    conf = conf_path(var)
    conf.touch()
    conf.chmod(0o600)  # it holds the control socket's password
    conf.write_text(render_conf(programs, var=var, password=secrets.token_urlsafe(16)))
    base = {**env, "PYTHONUNBUFFERED": "1", "PATH": f"{BIN}:{env.get('PATH', '')}"}
    return subprocess.Popen([str(BIN / "supervisord"), "-c", str(conf)], env=base, start_new_session=True,
                            stdout=output, stderr=subprocess.STDOUT if output is not None else None)


def ctl(var: Path, *argv: str, timeout: float = 30) -> str:
    """`supervisorctl` on this stack's control socket; its output."""
    result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(conf_path(var)), *argv],
                            capture_output=True, text=True, timeout=timeout)
    return result.stdout


def pid(var: Path, name: str) -> int:
    """The running pid of one program (0 when it is not running)."""
    out = ctl(var, "pid", name).strip()
    return int(out) if out.isdigit() else 0


def stop(supervisor: subprocess.Popen, *, seconds: float = 60) -> None:
    """Stop supervisord, which stops its programs first; kill what is left after `seconds`."""
    if supervisor.poll() is None:
        supervisor.send_signal(signal.SIGTERM)
        try:
            supervisor.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(supervisor.pid, signal.SIGKILL)
            supervisor.wait(timeout=10)


def wait_running(var: Path, names: Iterable[str], seconds: float = 60) -> list[str]:
    """The programs not yet RUNNING after `seconds` (an empty list when all are)."""
    deadline = time.monotonic() + seconds
    pending = list(names)
    while pending and time.monotonic() < deadline:
        status = ctl(var, "status")
        pending = [n for n in pending if not any(line.split()[:2] == [n, "RUNNING"] for line in status.splitlines())]
        if pending:
            time.sleep(0.5)
    return pending
