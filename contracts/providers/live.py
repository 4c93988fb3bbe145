"""The live providers of one verification run: their databases migrated, their servers up, a shopper
signed in if the service's consumers need one, and per pact the Verifier set up with what that
consumer sends (contracts/providers/described.py says what, per service).

Runs in a process already configured as the project under verification (projects.django_configure):
the provider states and messages write to the same SQLite file the served project reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management import call_command
from django.db import connections

from contracts.pactfiles import PactFile
from contracts.participants import SERVICE
from contracts.providers.described import VerifiedService
from contracts.providers.payments.monolith_orders import order_seeder
from contracts.providers.projects import Project, finished, monolith_project
from contracts.providers.provider_states import Handler, StateRun
from contracts.providers.servers import Server, server_start, server_wait
from contracts.providers.shopper import Shopper, shopper_register
from contracts.providers.verification import Outcome, Publish, verify_http, verify_messages
from strangler.proxy.credentials import HEADER as CREDENTIAL_HEADER
from strangler.proxy.credentials import credential_mint


class LiveProviders:
    def __init__(self, *, described: VerifiedService, secret: str, servers: list[Server],
                 shopper: Shopper | None, run: StateRun | None = None) -> None:
        self._described = described
        self._secret = secret
        self._servers = servers
        self._shopper = shopper
        self._run = run or StateRun()

    @staticmethod
    def states_known(described: VerifiedService) -> dict[str, Handler]:
        return described.state_handlers(StateRun())

    @classmethod
    def start(cls, verified: Project, env: dict[str, str], *, described: VerifiedService, against: str,
              root: Path, tmp: Path, secret: str, http: bool, shopper: bool) -> LiveProviders:
        """Migrate; when HTTP pacts are to be verified, serve ``verified`` (and, for a service that
        identifies shoppers at the monolith, that monolith too) and register the shopper there."""
        beside = against == SERVICE and described.identity_at_monolith
        identity = monolith_project(root) if beside else verified
        identity_env = identity.env(var_dir=tmp, secret=secret) if beside else env
        migrating = identity.migrate(identity_env) if http and beside else None
        call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()
        servers: list[Server] = []
        try:
            if not http:
                return cls(described=described, secret=secret, servers=servers, shopper=None)
            if migrating is not None:
                finished(migrating, f"migrating the {identity.name}")
            first = server_start(identity, identity_env, tmp / f"{identity.name}.log")
            servers.append(first)
            if beside:
                servers.append(server_start(verified, env | {"MONOLITH_URL": first.url},
                                            tmp / f"{verified.name}.log"))
            for server in servers:
                server_wait(server)
            signed_in = shopper_register(first.url) if shopper else None
        except BaseException:
            for server in servers:
                server.stop()
            if migrating is not None and migrating.poll() is None:
                migrating.kill()
            raise
        seed = order_seeder(cwd=identity.cwd, env=identity_env) if beside else None
        run = StateRun(shopper_id=signed_in.user_id if signed_in else None, monolith_order_seed=seed)
        return cls(described=described, secret=secret, servers=servers, shopper=signed_in, run=run)

    @property
    def url(self) -> str:
        """Where the providers are served: the last server started (the service, or the monolith)."""
        return self._servers[-1].url

    def verify(self, pact: PactFile, *, version: str, branch: str | None) -> Outcome:
        broker = bool(os.environ.get("PACT_BROKER_BASE_URL"))
        publish = Publish(provider_version=version, branch=branch) if broker else None
        states = self._described.state_handlers(self._run)
        if pact.is_message_pact:
            return verify_messages(pact, producers=self._described.message_producers(), states=states,
                                   publish=publish)
        caller = self._described.callers.get(pact.consumer)
        if caller is None:
            raise ValueError(f"{pact.consumer}: an HTTP consumer needs a credential caller")
        headers = {CREDENTIAL_HEADER: credential_mint(self._secret, caller, audience=self._servers[-1].name)}
        if pact.consumer in self._described.shoppers:
            if self._shopper is None:
                raise ValueError(f"{pact.consumer}: no shopper was registered for this run")
            headers["Authorization"] = f"Token {self._shopper.token}"
        return verify_http(pact, url=self.url, headers=headers, states=states, publish=publish)

    def logs(self, lines: int = 30) -> str:
        """The end of each server's log, for a failed verification's report."""
        return "\n".join(f"--- {s.name} log ({s.url}) ---\n{s.log_tail(lines)}" for s in self._servers)

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
