"""strangler.testing's CPU reading, as the benchmarks use it: a process tree's user + system time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from strangler.testing import cpu_seconds, process_stop, process_tree

# A parent that starts a child; both burn CPU for SPIN seconds, then sleep until stopped.
SPIN = 0.5
TREE = f"""
import subprocess, sys, time
burn = "import time\\nend = time.process_time() + {SPIN}\\nwhile time.process_time() < end: pass\\ntime.sleep(60)"
child = subprocess.Popen([sys.executable, "-c", burn])
print(child.pid, flush=True)
exec(burn)
"""


def test_a_process_tree_and_the_cpu_time_it_used():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    try:
        child = int(parent.stdout.readline())
        pids = process_tree(parent.pid)
        assert pids[0] == parent.pid and child in pids
        deadline = time.monotonic() + 30
        while cpu_seconds(pids) < 2 * SPIN * 0.9 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert 2 * SPIN * 0.9 <= cpu_seconds(pids)  # both spun: the child's time is counted too
        assert cpu_seconds([parent.pid]) < cpu_seconds(pids)
    finally:
        for pid in process_tree(parent.pid)[1:]:
            os.kill(pid, signal.SIGKILL)
        process_stop(parent)
