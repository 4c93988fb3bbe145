"""Rollouts driven by the controller inside real `strangler serve` replicas, sharing one SQLite
store, in front of real upstreams (upstream_app.py: `svc_status=500` makes the service alone fail),
with shoppers sending requests through the replicas.

What must hold: the leader killed mid-rollout, another replica continues from the same step; 5xx on
the service roll the route back within about one analysis interval, audited with the figures;
without traffic the rollout holds in its step, and says so; a restarted proxy resumes the rollout;
a flip by hand pauses it; the CLI and the admin API drive the same rollout.
"""

from __future__ import annotations

import http.client
import json
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from strangler.control.rollout.records import RolloutRecords
from strangler.tests.control_support import TOKEN, Process, cli, config_text, start_proxy

pytestmark = pytest.mark.integration

HERE = Path(__file__).parent
TICK = 0.2  # seconds between the controllers' looks
LEASE = 1.5  # seconds a dead leader's lease outlives it
INTERVAL = 1.0  # seconds between judgements
WAIT = 30.0  # seconds any awaited outcome may take on a slow machine


@dataclass
class Stack:
    tmp: Path
    config: Path
    store_url: str
    replicas: list[Process] = field(default_factory=list)

    def start_replica(self) -> Process:
        replica = start_proxy(self.config, self.tmp / f"proxy-{len(self.replicas)}.log")
        self.replicas.append(replica)
        return replica

    def rollout(self) -> dict[str, Any]:
        with RolloutRecords(self.store_url) as records:
            rollout = records.for_route("orders")
            events = records.events(rollout.id) if rollout else []
        return {"rollout": rollout.as_dict() if rollout else None, "events": [e.as_dict() for e in events]}

    def wait_for(self, what: str, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            seen = self.rollout()
            if seen["rollout"] and test(seen):
                return seen
            time.sleep(0.1)
        raise AssertionError(f"not {what} after {WAIT:.0f} s: {json.dumps(seen, indent=1)[:3000]}")

    def mode(self) -> str:
        out = cli(self.config, "routes", "--json")
        assert out.returncode == 0, out.stderr
        row = next(r for r in json.loads(out.stdout)["routes"] if r["route"] == "orders")
        return row["mode"] if row["mode"] != "canary" else f"canary {row['weight']}%"


@contextmanager
def _upstream(name: str) -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, str(HERE / "upstream_app.py"), name, "0"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with _upstream("monolith") as monolith, _upstream("service") as service:
        store_url = f"sqlite:///{tmp_path}/routes.db"
        config = tmp_path / "routes.toml"
        config.write_text(config_text(store_url=store_url, monolith_port=monolith, service_port=service)
                          + f"\n[rollouts]\ntick = {TICK}\nlease = {LEASE}\n")
        built = Stack(tmp_path, config, store_url)
        try:
            yield built
        finally:
            for replica in built.replicas:
                replica.stop()


class Shoppers:
    """Threads sending GETs through the replicas, round robin, each as its own user (canary cohorts)."""

    def __init__(self, stack: Stack, threads: int = 4) -> None:
        self.stack = stack
        self.query = ""  # e.g. "svc_status=500": the service fails
        self.answers: dict[int, int] = {}
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def __enter__(self) -> Shoppers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=10)

    def _run(self, n: int) -> None:
        rng = random.Random(n)
        while not self.stop.is_set():
            live = [r for r in self.stack.replicas if r.popen.poll() is None]
            if not live:
                time.sleep(0.05)
                continue
            replica = rng.choice(live)
            try:
                conn = http.client.HTTPConnection("127.0.0.1", replica.ports["proxy"], timeout=5)
                conn.request("GET", f"/api/orders/{rng.randrange(1000)}?{self.query}",
                             headers={"X-User-Id": f"user-{rng.randrange(10_000)}"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                continue  # a replica killed under the test
            self.answers[status] = self.answers.get(status, 0) + 1
            time.sleep(0.005)


def _start(stack: Stack, steps: str, min_requests: int = 20) -> None:
    out = cli(stack.config, "rollout", "start", "orders", "--steps", steps, "--interval", f"{INTERVAL}s",
              "--min-requests", str(min_requests), "--reason", "cut orders")
    assert out.returncode == 0, out.stderr
    assert "started on" in out.stdout


def _leader(stack: Stack) -> Process:
    with RolloutRecords(stack.store_url) as records:
        deadline = time.monotonic() + WAIT
        while (leader := records.leader()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
    assert leader is not None, "no replica leads"
    pid = int(leader[0].split(":")[1])
    return next(r for r in stack.replicas if r.popen.pid == pid)


def _verdicts(seen: dict[str, Any]) -> list[str]:
    return [e["verdict"] for e in reversed(seen["events"])]


def test_the_leader_killed_mid_rollout_another_replica_continues_from_the_same_step(stack: Stack) -> None:
    stack.start_replica()
    stack.start_replica()
    with Shoppers(stack):
        _start(stack, "canary:20:2s,canary:50:4s,service")
        at_50 = stack.wait_for("on canary 50%", lambda s: s["rollout"]["step"] == 1)
        leader = _leader(stack)
        leader.popen.send_signal(signal.SIGKILL)  # no resignation: its lease must run out
        leader.popen.wait()
        done = stack.wait_for("succeeded", lambda s: s["rollout"]["status"] == "succeeded")
    assert stack.mode() == "service"
    events = done["events"]
    advances = [e for e in reversed(events) if e["verdict"] == "advance"]
    assert [e["step"] for e in advances] == [1, 2]
    # The step the dead leader was watching was finished by the other replica, timed from when the
    # dead leader began it (not restarted), and judged on what both replicas saw.
    survivor = next(r for r in stack.replicas if r is not leader)
    assert f":{leader.popen.pid}:" in advances[0]["actor"]
    assert f":{survivor.popen.pid}:" in advances[1]["actor"]
    step_began = at_50["rollout"]["step_started_at"]
    assert abs(advances[1]["evidence"]["elapsed_s"] - (advances[1]["at"] - step_began)) < 0.5
    assert advances[1]["evidence"]["step"]["service_requests"] >= 20


def test_5xx_on_the_service_roll_the_route_back_within_one_analysis_interval(stack: Stack) -> None:
    stack.start_replica()
    with Shoppers(stack) as shoppers:
        _start(stack, "canary:50:60s,service")
        stack.wait_for("watching", lambda s: "watch" in _verdicts(s))
        shoppers.query = "svc_status=500"
        failing_since = time.monotonic()
        seen = stack.wait_for("rolled back", lambda s: s["rollout"]["status"] == "rolled_back")
        took = time.monotonic() - failing_since
    assert stack.mode() == "monolith"
    rollback = next(e for e in seen["events"] if e["verdict"] == "rollback")
    assert "service 5xx" in rollback["reason"]
    assert rollback["evidence"]["window"]["service_5xx"] >= 20  # the figures it was decided on
    print(f"[rollout] rolled back {took:.1f} s after the service began failing (interval {INTERVAL:g} s, "
          f"tick {TICK:g} s)")
    # One interval to fill the window, a tick to notice it, publication lag: generous for a loaded machine.
    assert took < 3 * INTERVAL + 5 * TICK + 3.0


def test_without_traffic_the_rollout_holds_its_step_and_says_so(stack: Stack) -> None:
    stack.start_replica()
    _start(stack, "canary:50:1s,service", min_requests=20)
    held = stack.wait_for("holding", lambda s: (s["rollout"]["last"] or {}).get("verdict") == "hold")
    assert "only 0 of 20 requests" in held["rollout"]["last"]["reason"]
    time.sleep(3 * INTERVAL)
    still = stack.rollout()["rollout"]
    assert (still["status"], still["step"], stack.mode()) == ("running", 0, "canary 50%")
    assert _verdicts(stack.rollout()).count("hold") == 1  # audited once, not every tick
    status = cli(stack.config, "rollout", "status", "orders")
    assert "holding, only" in status.stdout, status.stdout
    with Shoppers(stack):
        stack.wait_for("succeeded once traffic came", lambda s: s["rollout"]["status"] == "succeeded")
    assert stack.mode() == "service"


def test_a_restarted_proxy_resumes_the_rollout(stack: Stack) -> None:
    first = stack.start_replica()
    with Shoppers(stack):
        _start(stack, "canary:20:1s,canary:50:3s,service")
        stack.wait_for("on canary 50%", lambda s: s["rollout"]["step"] == 1)
        assert first.stop() == 0  # a clean stop resigns the lease
        time.sleep(1.0)
        assert stack.rollout()["rollout"]["step"] == 1  # nobody drives it while no proxy runs
        stack.start_replica()
        done = stack.wait_for("succeeded", lambda s: s["rollout"]["status"] == "succeeded")
    assert stack.mode() == "service"
    assert [e["step"] for e in reversed(done["events"]) if e["verdict"] == "advance"] == [1, 2]


def test_a_flip_by_hand_pauses_the_rollout_and_the_operator_verbs_drive_it(stack: Stack) -> None:
    replica = stack.start_replica()
    _start(stack, "canary:20:60s,service")
    out = cli(stack.config, "set", "orders", "--mode", "canary", "--weight", "5", "--reason", "my hands")
    assert out.returncode == 0, out.stderr
    paused = stack.wait_for("paused", lambda s: s["rollout"]["status"] == "paused")
    assert "by hand" in paused["rollout"]["last"]["reason"]
    # The admin API shows and drives the same rollout.
    admin = http.client.HTTPConnection("127.0.0.1", replica.ports["admin"], timeout=5)

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        admin.request(method, path, body=json.dumps(body) if body is not None else None,
                      headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        response = admin.getresponse()
        return response.status, json.loads(response.read())

    status, shown = call("GET", "/rollouts/orders")
    assert status == 200 and shown["rollout"]["status"] == "paused" and shown["events"][0]["verdict"] == "paused"
    assert call("POST", "/rollouts/orders/resume", {})[0] == 400  # a reason is required
    assert call("POST", "/rollouts/orders", {"steps": "service", "reason": "a second one"})[0] == 409
    assert call("POST", "/rollouts/billing", {"steps": "canary:5", "reason": "x", "analysis": {"bogus": 1}})[0] == 400
    assert call("POST", "/rollouts/orders/resume", {"reason": "back to the plan"})[0] == 200
    out = cli(stack.config, "rollout", "abort", "orders", "--reason", "enough")
    assert out.returncode == 0 and "back on the monolith" in out.stdout, out.stderr
    assert stack.mode() == "monolith"
    status, listed = call("GET", "/rollouts")
    assert status == 200 and listed["rollouts"][0]["status"] == "aborted" and listed["leader"] is not None
    admin.request("GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    metrics = admin.getresponse().read().decode()
    assert 'strangler_rollout_status{route="orders",status="aborted"} 1' in metrics
    assert 'strangler_rollout_status{route="orders",status="running"} 0' in metrics
    assert 'strangler_rollout_step{route="orders"} 1' in metrics and "strangler_rollout_leader 1" in metrics
    assert call("GET", "/rollouts", None)[0] == 200
    admin.close()


def test_reconcile_runs_the_route_table_s_command_and_a_disagreement_rolls_back(stack: Stack) -> None:
    verdict = stack.tmp / "reconcile-exit-code"
    verdict.write_text("0")
    check = f"import sys; sys.exit(int(open({str(verdict)!r}).read()))"  # stands in for strangler_reconcile
    stack.config.write_text(stack.config.read_text() + f"[rollouts.reconcile]\norders = {json.dumps([sys.executable, '-c', check])}\n")
    replica = stack.start_replica()
    admin = http.client.HTTPConnection("127.0.0.1", replica.ports["admin"], timeout=5)
    bad = {"steps": "canary:50:1s,service", "reason": "x", "analysis": {"reconcile": ["sh", "-c", "id"]}}
    admin.request("POST", "/rollouts/orders", body=json.dumps(bad), headers={"Authorization": f"Bearer {TOKEN}"})
    response = admin.getresponse()
    assert response.status == 400 and "route table" in json.loads(response.read())["error"]  # no command from the API
    admin.close()
    out = cli(stack.config, "rollout", "start", "billing", "--steps", "canary:50:1s,service", "--reconcile",
              "--reason", "x")
    assert out.returncode == 2 and "no [rollouts.reconcile] billing command" in out.stderr
    with Shoppers(stack):
        out = cli(stack.config, "rollout", "start", "orders", "--steps", "canary:20:1s,canary:50:1s,service",
                  "--interval", "1s", "--min-requests", "10", "--reconcile", "--reason", "cut with reconcile")
        assert out.returncode == 0, out.stderr
        passed = stack.wait_for("past its first step", lambda s: s["rollout"]["step"] == 1)
        assert "reconcile clean" in next(e for e in passed["events"] if e["verdict"] == "advance")["reason"]
        verdict.write_text("1")  # the stores now disagree
        seen = stack.wait_for("rolled back", lambda s: s["rollout"]["status"] == "rolled_back")
    assert stack.mode() == "monolith"
    assert "reconcile exited 1" in next(e for e in seen["events"] if e["verdict"] == "rollback")["reason"]


def test_a_proxy_stopping_mid_reconcile_leaves_the_rollout_to_the_next_leader(stack: Stack) -> None:
    started = stack.tmp / "reconcile-started"
    slow = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(120)"
    stack.config.write_text(stack.config.read_text() + f"[rollouts.reconcile]\norders = {json.dumps([sys.executable, '-c', slow])}\n")
    replica = stack.start_replica()
    with Shoppers(stack):
        out = cli(stack.config, "rollout", "start", "orders", "--steps", "canary:50:1s,service", "--interval", "1s",
                  "--min-requests", "10", "--reconcile", "--reason", "cut")
        assert out.returncode == 0, out.stderr
        deadline = time.monotonic() + WAIT
        while not started.exists():
            assert time.monotonic() < deadline, "the reconcile never ran"
            time.sleep(0.1)
        stopping = time.monotonic()
        assert replica.stop(timeout=20) == 0, replica.log_text()
        took = time.monotonic() - stopping
    assert took < 10, f"the proxy waited {took:.0f} s for the reconcile"  # killed, not waited for
    rollout = stack.rollout()["rollout"]
    assert (rollout["status"], rollout["step"]) == ("running", 0)  # neither advanced nor rolled back
    assert stack.mode() == "canary 50%"
