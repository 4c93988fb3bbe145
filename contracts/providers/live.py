"""The live providers of one verification run: their databases migrated, their servers up, a shopper
signed in, and per pact the Verifier set up with what that consumer sends.

Runs in a process already configured as the project under verification (projects.django_configure):
the provider states and messages below write to the same SQLite file the served project reads.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.management import call_command
from django.db import connections

from contracts.pactfiles import PactFile
from contracts.participants import MONOLITH, SERVICE
from contracts.providers.messages import message_producers
from contracts.providers.monolith_orders import OrderSeed, order_seeder
from contracts.providers.projects import Project, finished, project
from contracts.providers.servers import Server, server_start, server_wait
from contracts.providers.shopper import Shopper, shopper_register
from contracts.providers.states import Handler, state_handlers
from contracts.providers.verification import Outcome, Publish, verify_http, verify_messages
from strangler.proxy.credentials import HEADER as CREDENTIAL_HEADER
from strangler.proxy.credentials import credential_mint


class LiveProviders:
    def __init__(self, *, secret: str, servers: list[Server], shopper: Shopper | None,
                 monolith_order_seed: OrderSeed | None = None) -> None:
        self._secret = secret
        self._servers = servers
        self._shopper = shopper
        self._monolith_order_seed = monolith_order_seed

    @staticmethod
    def states_known() -> dict[str, Handler]:
        return state_handlers(shopper_id=None)

    @classmethod
    def start(cls, verified: Project, env: dict[str, str], *, against: str, root: Path, tmp: Path,
              secret: str, http: bool, shopper: bool) -> LiveProviders:
        """Migrate; when HTTP pacts are to be verified, serve ``verified`` (and, for the service, the
        monolith it identifies shoppers at) and register the shopper there."""
        identity = project(MONOLITH, root) if against == SERVICE else verified
        identity_env = identity.env(var_dir=tmp, secret=secret) if identity is not verified else env
        migrating = identity.migrate(identity_env) if http and identity is not verified else None
        call_command("migrate", interactive=False, verbosity=0)
        connections.close_all()
        servers: list[Server] = []
        try:
            if not http:
                return cls(secret=secret, servers=servers, shopper=None)
            if migrating is not None:
                finished(migrating, f"migrating the {identity.name}")
            monolith = server_start(identity, identity_env, tmp / f"{identity.name}.log")
            servers.append(monolith)
            if identity is not verified:
                servers.append(server_start(verified, env | {"MONOLITH_URL": monolith.url},
                                            tmp / f"{verified.name}.log"))
            for server in servers:
                server_wait(server)
            signed_in = shopper_register(monolith.url) if shopper else None
        except BaseException:
            for server in servers:
                server.stop()
            if migrating is not None and migrating.poll() is None:
                migrating.kill()
            raise
        seed = order_seeder(cwd=identity.cwd, env=identity_env) if identity is not verified else None
        return cls(secret=secret, servers=servers, shopper=signed_in, monolith_order_seed=seed)

    @property
    def url(self) -> str:
        """Where payments is served: the last server started (the service, or the monolith)."""
        return self._servers[-1].url

    def verify(self, pact: PactFile, *, caller: str | None, as_shopper: bool, version: str,
               branch: str | None) -> Outcome:
        broker = bool(os.environ.get("PACT_BROKER_BASE_URL"))
        publish = Publish(provider_version=version, branch=branch) if broker else None
        states = state_handlers(shopper_id=self._shopper.user_id if self._shopper else None,
                                monolith_order_seed=self._monolith_order_seed)
        if pact.is_message_pact:
            return verify_messages(pact, producers=message_producers(), states=states, publish=publish)
        if caller is None:
            raise ValueError(f"{pact.consumer}: an HTTP consumer needs a credential caller")
        headers = {CREDENTIAL_HEADER: credential_mint(self._secret, caller, audience=self._servers[-1].name)}
        if as_shopper:
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
