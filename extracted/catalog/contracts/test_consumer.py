"""Consumer side: what the monolith's client of catalog needs of the service, as a pact written to
contracts/pacts/. It starts with the one interaction every service honours (its liveness probe);
add one test per call your client makes. Needs pact-python (``pip install pact-python``)."""

import json
import urllib.request
from pathlib import Path

import pytest

from contracts.participants import CATALOG, CATALOG_CLIENT

pact_match = pytest.importorskip("pact").match
PACT_DIR = Path(__file__).resolve().parent / "pacts"


@pytest.fixture
def pact():
    from pact import Pact

    made = Pact(CATALOG_CLIENT, CATALOG)
    yield made
    made.write_file(PACT_DIR, overwrite=True)


def test_the_service_says_it_is_alive(pact):
    pact.upon_receiving("a liveness probe").with_request("GET", "/healthz").will_respond_with(200).with_body(
        {"status": pact_match.str("ok")}, content_type="application/json")
    with pact.serve() as server, urllib.request.urlopen(f"{server.url}/healthz", timeout=5) as answer:
        assert json.loads(answer.read()) == {"status": "ok"}
