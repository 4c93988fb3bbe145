"""Publish the committed pacts to a Pact Broker when ``PACT_BROKER_BASE_URL`` is set; otherwise
say that the pacts stay in ``contracts/pacts`` (the offline record is the source of truth then)."""

from __future__ import annotations

import sys
from pathlib import Path

from contracts.broker import Broker, BrokerError
from contracts.pactfiles import PACT_DIR
from contracts.versions import REPO_ROOT, consumer_version, git_branch


def pacts_publish(broker: Broker, pacts: Path = PACT_DIR) -> int:
    branch = git_branch(REPO_ROOT) or ""
    files = sorted(pacts.glob("*.json"))
    for pact_file in files:
        url = broker.pact_publish(pact_file, consumer_version=consumer_version(pact_file), branch=branch)
        print(f"published {pact_file.name} -> {url}")
    return len(files)


def main() -> int:
    broker = Broker.from_env()
    if broker is None:
        print(f"no PACT_BROKER_BASE_URL: pacts stay in {PACT_DIR.relative_to(REPO_ROOT)}, verified offline")
        return 0
    try:
        count = pacts_publish(broker)
    except BrokerError as exc:
        print(f"publishing failed: {exc}", file=sys.stderr)
        return 1
    print(f"{count} pacts published to {broker.base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
