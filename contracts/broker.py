"""A Pact Broker, when ``PACT_BROKER_BASE_URL`` is set: publish pact files, ask the matrix.

Only what `make contracts` and `make can-i-deploy` need, over the broker's documented HTTP API
(stdlib urllib: the contracts run must not need more than pact-python). Credentials come from
``PACT_BROKER_TOKEN`` (bearer) or ``PACT_BROKER_USERNAME``/``PACT_BROKER_PASSWORD`` (basic).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TIMEOUT = 30.0


class BrokerError(Exception):
    """The broker refused or could not be reached; the message says which URL and why."""


@dataclass(frozen=True, slots=True)
class Broker:
    base_url: str
    token: str = ""
    username: str = ""
    password: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Broker | None:
        env = os.environ if env is None else env
        url = env.get("PACT_BROKER_BASE_URL", "").strip()
        if not url:
            return None
        return cls(base_url=url.rstrip("/"), token=env.get("PACT_BROKER_TOKEN", ""),
                   username=env.get("PACT_BROKER_USERNAME", ""), password=env.get("PACT_BROKER_PASSWORD", ""))

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        headers = {"Accept": "application/hal+json, application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        elif self.username:
            pair = f"{self.username}:{self.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        url = self.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:500].decode("utf-8", "replace")
            raise BrokerError(f"{method} {url}: HTTP {exc.code}: {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise BrokerError(f"{method} {url}: {exc}") from None
        return json.loads(raw) if raw else None

    def pact_publish(self, pact_file: Path, *, consumer_version: str, branch: str = "") -> str:
        """PUT one pact file as ``consumer_version`` of its consumer; returns the broker URL of it."""
        pact = json.loads(pact_file.read_text(encoding="utf-8"))
        consumer, provider = pact["consumer"]["name"], pact["provider"]["name"]
        quote = urllib.parse.quote
        path = f"/pacts/provider/{quote(provider)}/consumer/{quote(consumer)}/version/{quote(consumer_version)}"
        self._request("PUT", path, pact)
        if branch:
            self._request("PUT", f"/pacticipants/{quote(consumer)}/branches/{quote(branch)}/versions/"
                                 f"{quote(consumer_version)}", {})
        return self.base_url + path

    def can_i_deploy(self, pacticipant: str, version: str, *, environment: str | None = None) -> tuple[bool, str]:
        """The matrix for ``pacticipant`` at ``version`` against the latest of each counterpart, or
        against what is deployed in ``environment`` (the broker's /can-i-deploy)."""
        if environment:
            query = urllib.parse.urlencode([("pacticipant", pacticipant), ("version", version),
                                            ("environment", environment)])
            answer = self._request("GET", f"/can-i-deploy?{query}") or {}
        else:
            query = urllib.parse.urlencode([("q[][pacticipant]", pacticipant), ("q[][version]", version),
                                            ("latestby", "cvp"), ("latest", "true")])
            answer = self._request("GET", f"/matrix?{query}") or {}
        summary = answer.get("summary") or {}
        return bool(summary.get("deployable")), str(summary.get("reason") or "the broker gave no reason")
