"""Hot toggles under sustained load: two proxy replicas (`strangler serve` processes sharing one
store) in front of two real upstreams; the route is flipped, then rolled back, with the real CLI
while thousands of keep-alive requests are in flight.

Asserts zero failed requests, and that each replica serves from the new side within 1 s of the
CLI's commit (the audit row's timestamp) in both directions.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from strangler.tests.control_support import (
    REDIS_URL,
    ROOT,
    Process,
    cli,
    env,
    pg_database,
    start_proxy,
    start_upstream,
    write_config,
)

pytestmark = pytest.mark.integration

CONNECTIONS_PER_REPLICA = 12
BEFORE_FLIP = 1.0  # seconds of load before the flip, between flip and rollback, and after
PROPAGATION_BOUND = 1.0


@dataclass
class Load:
    answers: list[tuple[float, int, str]] = field(default_factory=list)  # (received at, replica, side)
    failures: list[str] = field(default_factory=list)
    stop: bool = False


async def _client(port: int, replica: int, worker: int, load: Load) -> None:
    """One keep-alive connection sending GETs back to back, as a browser or service client would."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    n = 0
    try:
        while not load.stop:
            n += 1
            writer.write(
                f"GET /api/orders/{worker}-{n} HTTP/1.1\r\nHost: shop\r\nX-User-Id: u{worker}\r\n\r\n".encode()
            )
            try:
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration) as exc:
                load.failures.append(f"replica {replica} worker {worker}: {exc!r}")
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                continue
            if status != 200:
                load.failures.append(f"replica {replica}: status {status} {body[:200]!r}")
                continue
            load.answers.append((time.time(), replica, json.loads(body)["side"]))
    finally:
        writer.close()


async def _cli(config: Path, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "strangler", "--config", str(config), *args,
        cwd=ROOT, env=env(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()


def _run_load(config: Path, ports: list[int]) -> Load:
    load = Load()

    async def scenario() -> None:
        clients = [
            asyncio.create_task(_client(port, replica, w, load))
            for replica, port in enumerate(ports)
            for w in range(CONNECTIONS_PER_REPLICA)
        ]
        await asyncio.sleep(BEFORE_FLIP)
        await _cli(config, "set", "orders", "--mode", "service", "--reason", "cut over under load")
        await asyncio.sleep(BEFORE_FLIP + PROPAGATION_BOUND)
        await _cli(config, "rollback", "orders", "--reason", "roll back under load")
        await asyncio.sleep(BEFORE_FLIP + PROPAGATION_BOUND)
        load.stop = True
        await asyncio.gather(*clients)

    asyncio.run(scenario())
    return load


@dataclass
class Upstreams:
    monolith: Process
    service: Process


@pytest.fixture
def upstreams(tmp_path: Path) -> Iterator[Upstreams]:
    monolith = start_upstream("monolith", tmp_path / "monolith.log")
    service = start_upstream("service", tmp_path / "service.log")
    yield Upstreams(monolith, service)
    monolith.stop()
    service.stop()


@pytest.fixture
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgresql":
        with pg_database() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path}/routes.db"


@pytest.mark.parametrize(
    ("propagation", "store_url"),
    [("polling", "sqlite"), ("redis", "sqlite"), ("polling", "postgresql")],
    indirect=["store_url"],
)
def test_flip_and_rollback_under_load(tmp_path: Path, upstreams: Upstreams, propagation: str, store_url: str) -> None:
    redis_url = None
    if propagation == "redis":
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()  # fail, not skip, without Redis
        redis_url = REDIS_URL
    config = write_config(
        tmp_path,
        store_url=store_url,
        redis_url=redis_url,
        monolith_port=upstreams.monolith.ports["port"],
        service_port=upstreams.service.ports["port"],
        access_log=True,
    )
    assert cli(config, "routes").returncode == 0  # seed the store once, before the replicas race to
    replicas = [start_proxy(config, tmp_path / f"replica{i}.log") for i in range(2)]
    try:
        load = _run_load(config, [r.ports["proxy"] for r in replicas])
    finally:
        exit_codes = [r.stop() for r in replicas]
    logs = [r.log_text() for r in replicas]
    assert exit_codes == [0, 0], logs

    flip, undo = json.loads(cli(config, "history", "orders", "--limit", "2", "--json").stdout)[::-1]
    assert (flip["to_mode"], undo["to_mode"], undo["undoes"]) == ("service", "monolith", flip["id"])

    assert load.failures == []
    total = len(load.answers)
    assert total > 2000, f"only {total} requests: not sustained load"
    in_flight_over_flip = [a for a in load.answers if flip["at"] - 0.5 <= a[0] <= flip["at"] + PROPAGATION_BOUND]
    assert len(in_flight_over_flip) > 200

    lags = []
    for replica in range(2):
        answers = [(at, side) for at, r, side in load.answers if r == replica]
        assert answers[0][1] == "monolith" and answers[-1][1] == "monolith"
        assert all(side == "monolith" for at, side in answers if at < flip["at"])
        first_service = next(at for at, side in answers if side == "service" and at >= flip["at"])
        assert first_service - flip["at"] < PROPAGATION_BOUND, f"replica {replica}: {first_service - flip['at']:.3f}s"
        back = next(at for at, side in answers if side == "monolith" and at >= undo["at"])
        assert back - undo["at"] < PROPAGATION_BOUND, f"replica {replica}: {back - undo['at']:.3f}s"
        lags += [f"{first_service - flip['at']:.3f}s", f"{back - undo['at']:.3f}s"]
        # Once switched, the replica stays switched (no flapping between old and new tables).
        assert all(side == "service" for at, side in answers if first_service + 0.1 < at < undo["at"])
        assert all(side == "monolith" for at, side in answers if at > back + 0.1)
        # The change arrived through the configured path.
        source = "pubsub" if propagation == "redis" else "poll"
        assert f"via {source}" in logs[replica], logs[replica][-2000:]

    print(f"{propagation}: {total} requests, {len(in_flight_over_flip)} around the flip, 0 failed, "
          f"switch lags (replica0 flip, rollback, replica1 flip, rollback): {', '.join(lags)}")
