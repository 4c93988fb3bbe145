"""The suite's own safety net (conftest.py): a test that leaves a process running fails the run,
and the process is killed, not orphaned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]

LEAKY = '''
import subprocess, sys

def test_starts_a_server_and_forgets_it():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    open(__file__ + ".pid", "w").write(str(proc.pid))
'''


def test_a_process_left_running_is_killed_and_fails_the_run():
    # Under the repository, so that pytest loads the root conftest.py as it does for every test.
    folder = ROOT / "var" / "process-hygiene"
    folder.mkdir(parents=True, exist_ok=True)
    probe = folder / "test_leaky_probe.py"
    probe.write_text(LEAKY)
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(probe)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    pid = int(Path(f"{probe}.pid").read_text())
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed" in result.stdout  # the test itself passed; the leak failed the run
    assert f"processes left running by the tests, killed: {pid} " in result.stdout
    assert "time.sleep(600)" in result.stdout
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
