"""What runs in an environment, from the deployments recorded offline in the verification record
(contracts/record_deployment.py): the latest deployment of each pacticipant (and, for a consumer,
of each of its pacts) is what runs there. Pure: the caller reads the record."""

from __future__ import annotations

from collections.abc import Iterable

from strangler.control.verifications import Deployment


def deployed(deployments: Iterable[Deployment], environment: str) -> dict[tuple[str, str], str]:
    """(pacticipant, provider of its pact or "") -> the version deployed in ``environment``."""
    now: dict[tuple[str, str], str] = {}
    for d in deployments:
        if d.environment == environment:
            now[(d.pacticipant, d.provider)] = d.version  # later lines win
    return now
