"""The dashboard's "Needs a person" counts and the admin /metrics cover every extracted service of
the stack, catalog as payments: the admin side polls each target of `make run`'s route table with
the table's status credential, minted for the target's audience, and a live catalog service
(gunicorn on its own PostgreSQL database) answers its kit status to it. A credential minted for
another service is refused there, and shows as an error, never as zeros."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator

import pytest

from strangler.dashboard.backends import backends_from
from strangler.proxy.config import load_config
from tests.catalog_support import Server, live
from tests.cutover_support import stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with live.service_running(tmp_path_factory.mktemp("catalog")) as server:
        yield server


def _polled(catalog: Server, tmp_path, *, audience: str | None = None) -> dict:
    """The admin side's view after one poll, with `make run`'s route table pointing catalog at the
    live service (and, when given, its credential minted for another audience)."""
    port = catalog.url.rsplit(":", 1)[1]
    text = stack.ROUTES.read_text().replace('url = "http://127.0.0.1:8003"', f'url = "http://127.0.0.1:{port}"')
    routes = tmp_path / "routes.toml"
    routes.write_text(text)
    config = load_config(routes, env={"INTERNAL_AUTH_SECRET": catalog.secret})
    if audience is not None:
        target = dataclasses.replace(config.table.targets["catalog"], credential_audience=audience)
        config = dataclasses.replace(config, table=dataclasses.replace(
            config.table, targets={**config.table.targets, "catalog": target}))
    backends = backends_from(None, config)
    assert set(backends.targets) == {"monolith", "payments", "catalog"}  # every target of the table is polled
    backends.targets = {"catalog": backends.targets["catalog"]}  # only the live one is asked here
    asyncio.run(backends.poll())
    return backends.view()["catalog"]


def test_the_catalog_services_kit_status_reaches_the_dashboard(catalog: Server, tmp_path) -> None:
    view = _polled(catalog, tmp_path)
    assert view["ok"] is True and view["error"] is None, view
    assert (view["dead_letters"], view["outbox_pending"], view["conflicts"]) == (0, 0, {})
    assert "catalog" in view["sync"]  # the service runs the catalog extraction context


def test_a_credential_for_another_service_is_refused_and_shown_as_an_error(catalog: Server, tmp_path) -> None:
    view = _polled(catalog, tmp_path, audience="payments-service")
    assert view["ok"] is False and view["error"] == "HTTP 401 from /internal/strangler/status", view
    assert "dead_letters" not in view
