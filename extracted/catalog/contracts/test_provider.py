"""Provider side: every pact in contracts/pacts/ replayed against the real service (migrated on a
fresh SQLite database, started on a free port) with pact-python's Verifier. Run the consumer tests
first; they write the pacts. Needs pact-python and the broker of tests/test_service_starts.py."""

import subprocess
import sys
from pathlib import Path

import pytest

from contracts.participants import CATALOG
from strangler.testing import LOOPBACK, free_port, process_stop
from tests.test_service_starts import SERVICE_DIR, _env, _manage, _ready

pytest.importorskip("pact")
PACT_DIR = Path(__file__).resolve().parent / "pacts"


def test_the_service_honours_its_pacts(tmp_path):
    from pact import Verifier

    pacts = sorted(PACT_DIR.glob(f"*-{CATALOG}.json"))
    if not pacts:
        pytest.skip("no pact yet: run contracts/test_consumer.py first")
    env = _env(tmp_path)
    assert _manage(env, "migrate", "--noinput").returncode == 0
    port = free_port()
    server = subprocess.Popen([sys.executable, "manage.py", "runserver", f"{LOOPBACK}:{port}", "--noreload"],
                              cwd=SERVICE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert _ready(f"http://{LOOPBACK}:{port}/readyz", server)[0] == 200
        verifier = Verifier(CATALOG, host=LOOPBACK).add_transport(url=f"http://{LOOPBACK}:{port}")
        for path in pacts:
            verifier.add_source(str(path))
        verifier.verify()
    finally:
        process_stop(server)
