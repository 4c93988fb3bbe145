"""Cut payments over with a rollout the proxies drive: contracts -> backfill -> reconcile, then
`strangler rollout start payments` (shadow -> canary 10% -> canary 50% -> service by default), and
follow it, printing every decision the controller makes with its figures, until it succeeds or
rolls back.

The steps are judged by the controller inside the proxy replicas (strangler.control.rollout), not
by this script: Ctrl-C or a lost terminal leaves a rollout that still advances, holds or rolls back
on its own (`strangler rollout status|pause|abort payments`). A step without enough judged requests
holds (--min-requests). While following, this script also runs `strangler_reconcile payments` each
time the rollout reaches a new step, and aborts the rollout (the route goes back to the monolith)
if the stores still disagree after --settle seconds; a route table with [rollouts.reconcile]
payments lets the proxies run it themselves (--reconcile-in-proxy).

Before the rollout, `contracts.can_i_deploy` must say yes for payments: the strangler refuses
canary/service while the contract record is failing or not current. When it says no, the Pact
verification runs against the monolith and the service (as `make contracts` does) and is recorded.
With --skip-contracts it does not: the rollout's flips then go past the gate, each audited as
forced (the gate's refusal and "--skip-contracts" in its reason).

    python deploy/cutover.py [--plan shadow,canary:10,canary:50,service] [--window 30] [--rollback]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from strangler.control.rollout.records import RolloutRecords
from strangler.proxy.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROUTE = "payments"
FOLLOW_POLL = 1.0  # seconds between looks at the rollout
DONE = {"succeeded": 0, "rolled_back": 1, "aborted": 1}  # final status -> exit code


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class Step:
    mode: str
    weight: int = 0

    @property
    def label(self) -> str:
        return f"canary {self.weight}%" if self.mode == "canary" else self.mode

    def with_window(self, seconds: float) -> str:
        """The rollout step: watched for `seconds` (the service too: it is judged before the rollout ends)."""
        return ":".join([self.mode, *([str(self.weight)] if self.mode == "canary" else []), f"{seconds:g}s"])


def parse_plan(text: str) -> list[Step]:
    steps = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        mode, _, weight = item.partition(":")
        if mode not in ("shadow", "canary", "service"):
            raise argparse.ArgumentTypeError(f"unknown step {item!r}")
        if mode == "canary" and not (weight.isdigit() and 1 <= int(weight) <= 100):
            raise argparse.ArgumentTypeError(f"canary needs a weight 1-100: {item!r}")
        steps.append(Step(mode, int(weight or 0)))
    return steps


class Cutover:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config = str(args.config)
        loaded = load_config(args.config, env={})
        record = loaded.contracts_record or "contracts/verifications.jsonl"
        self.record = Path(record) if Path(record).is_absolute() else ROOT / record
        store = loaded.store_url
        if store.startswith("sqlite:///") and not store.startswith("sqlite:////"):  # relative to the repository
            store = f"sqlite:///{ROOT / store.removeprefix('sqlite:///')}"
        self.store_url = store
        self.forced = ""  # why the rollout's flips go past the strangler's contract gate, if they do

    # -- actions -----------------------------------------------------------------------
    def say(self, message: str) -> None:
        print(f"[cutover {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def strangler(self, *argv: str) -> str:
        cmd = [str(BIN / "strangler"), "--config", self.config, *argv]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise CheckFailed(f"strangler {' '.join(argv[:2])} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def manage(self, *argv: str) -> subprocess.CompletedProcess[str]:
        # The monolith's commands sign their calls to the service with the stack's shared secret.
        env = {**os.environ, "INTERNAL_AUTH_SECRET": self.args.internal_secret}
        return subprocess.run([str(BIN / "python"), "manage.py", *argv], cwd=ROOT, text=True, timeout=3600,
                              stdout=subprocess.PIPE, stderr=None, env=env)

    # -- before the rollout ------------------------------------------------------------
    def contracts(self) -> None:
        """The rollout's canary/service flips are refused by the strangler unless payments' contracts
        pass for the code as it is now; `contracts.current` verifies them first when the record does not say so."""
        module = "contracts.can_i_deploy" if self.args.skip_contracts else "contracts.current"
        result = subprocess.run([str(BIN / "python"), "-m", module, "--service", ROUTE, "--record", str(self.record)],
                                cwd=ROOT, text=True, timeout=1300)
        if result.returncode == 0:
            self.say(f"contracts: can-i-deploy says yes for {ROUTE}")
        elif self.args.skip_contracts:
            self.forced = "--skip-contracts: can-i-deploy said no"
            self.say("contracts not verified for this code; --skip-contracts: the rollout's canary/service flips go "
                     "past the strangler's gate, audited as forced")
        else:
            raise CheckFailed(f"the contracts of {ROUTE} do not pass for this code")

    def backfill(self) -> None:
        self.say(f"backfill into {self.args.service}")
        restart = ["--restart"] if self.args.restart else []
        result = self.manage("strangler_backfill", "payments", "--target", self.args.service, *restart)
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            raise CheckFailed("backfill failed")

    def reconcile(self) -> None:
        """Clean within `settle` seconds: differences that outlast the sync lag are real."""
        deadline = time.monotonic() + self.args.settle
        while True:
            result = self.manage("strangler_reconcile", "payments", "--target", self.args.service)
            if result.returncode == 0:
                self.say("reconcile: both stores agree")
                return
            if time.monotonic() >= deadline:
                print(result.stdout, end="", flush=True)
                raise CheckFailed("reconcile: the stores still disagree")
            time.sleep(2)

    # -- the rollout ---------------------------------------------------------------------
    def start(self) -> None:
        steps = ",".join(step.with_window(self.args.window) for step in self.args.plan)
        interval = max(1.0, self.args.window / 3)
        argv = ["rollout", "start", ROUTE, "--steps", steps, "--interval", f"{interval:g}s",
                "--min-requests", str(self.args.min_requests), "--max-error-share", str(self.args.max_error_share),
                "--max-diff-share", str(self.args.max_diff_share), "--max-p95-ratio", str(self.args.max_p95_ratio),
                "--actor", "cutover",
                "--reason", f"cutover of {ROUTE}"]
        if self.args.reconcile_in_proxy:
            argv.append("--reconcile")
        if self.forced:
            argv += ["--force", self.forced]
        self.say(self.strangler(*argv).strip())

    def follow(self) -> tuple[str, list[str]]:
        """Print the controller's decisions as they come; reconcile at each new step. Returns the final
        status and the labels of the steps passed."""
        seen: set[int] = set()
        step = -1
        passed: list[str] = []
        deadline = time.monotonic() + self.args.timeout
        with RolloutRecords(self.store_url) as records:
            while True:
                rollout = records.for_route(ROUTE)
                if rollout is None:
                    raise CheckFailed("the rollout is not in the store")
                for event in reversed(records.events(rollout.id, 50)):
                    if event.id not in seen:
                        seen.add(event.id)
                        self.say(f"rollout #{rollout.id} step {event.step + 1} {event.verdict}: {event.reason}")
                if rollout.step != step and rollout.status.value == "running":
                    if step >= 0:
                        passed = [s.label for s in self.args.plan[:rollout.step]]
                        if not self.args.reconcile_in_proxy:
                            self._reconcile_or_abort()
                    step = rollout.step
                if rollout.status.value in DONE:
                    if rollout.status.value == "succeeded":
                        passed = [s.label for s in self.args.plan]
                    return rollout.status.value, passed
                if time.monotonic() > deadline:
                    raise TimeoutError
                last = rollout.progress.get("last") or {}
                print(f"\r  {rollout.current.label}: {last.get('verdict', 'starting')} ",
                      end="", file=sys.stderr, flush=True)
                time.sleep(FOLLOW_POLL)

    def _reconcile_or_abort(self) -> None:
        try:
            self.reconcile()
        except CheckFailed as exc:
            self.strangler("rollout", "abort", ROUTE, "--actor", "cutover", "--reason", f"cutover: {exc}")
            raise

    # -- the run -------------------------------------------------------------------------
    def run(self) -> int:
        started = time.monotonic()
        done: list[str] = []
        try:
            self.contracts()
            done.append("contracts")
            if not self.args.skip_backfill:
                self.backfill()
            self.reconcile()
            done.append("backfill")
            self.start()
            status, passed = self.follow()
            done += passed
            if status != "succeeded":
                self.say(f"summary: completed {', '.join(done)}; the rollout {status.replace('_', ' ')}, the route is "
                         f"back on the monolith after {time.monotonic() - started:.0f} s")
                return DONE[status]
            if self.args.rollback:
                self.strangler("set", ROUTE, "--mode", "monolith", "--actor", "cutover",
                               "--reason", "cutover: planned rollback")
                time.sleep(min(self.args.window, 5))
                self.reconcile()
                done.append("rollback")
        except CheckFailed as exc:
            self.say(f"CHECK FAILED: {exc}")
            self.say(f"summary: completed {', '.join(done) or 'nothing'}; stopped after {time.monotonic() - started:.0f} s")
            return 1
        except (KeyboardInterrupt, TimeoutError):
            self.say(f"stopped following; the rollout goes on in the proxies: strangler rollout status {ROUTE} "
                     f"(or abort {ROUTE} --reason ...)")
            return 130
        self.say(f"summary: completed {', '.join(done)} in {time.monotonic() - started:.0f} s")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "local" / "routes.toml")
    parser.add_argument("--service", default="http://127.0.0.1:8002", help="the payments service, for backfill/reconcile")
    parser.add_argument("--internal-secret-file", type=Path, default=ROOT / "var" / "internal-auth-secret",
                        help="where `make run` keeps INTERNAL_AUTH_SECRET (the environment variable wins)")
    parser.add_argument("--plan", type=parse_plan, default=parse_plan("shadow,canary:10,canary:50,service"))
    parser.add_argument("--window", type=float, default=30.0, help="seconds each step is watched at least")
    parser.add_argument("--min-requests", type=int, default=50,
                        help="judged requests a step needs before it advances (it holds until then)")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds reconcile may take to come clean")
    parser.add_argument("--timeout", type=float, default=3600.0, help="stop following after this many seconds")
    parser.add_argument("--max-error-share", type=float, default=0.01)
    parser.add_argument("--max-diff-share", type=float, default=0.01)
    parser.add_argument("--max-p95-ratio", type=float, default=1.5, help="the service's p95 against the monolith's")
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-contracts", action="store_true",
                        help="do not run the contract verification when the record is not current; the rollout's "
                             "canary/service flips then go past the strangler's gate and are audited as forced")
    parser.add_argument("--reconcile-in-proxy", action="store_true",
                        help="the proxies run the route table's [rollouts.reconcile] payments command instead")
    parser.add_argument("--restart", action="store_true", help="backfill from scratch, ignoring its checkpoint")
    parser.add_argument("--rollback", action="store_true", help="end by flipping back to the monolith")
    # Kept for the command lines of earlier versions; the rollout goes through the store, not the admin API.
    parser.add_argument("--admin", help=argparse.SUPPRESS)
    parser.add_argument("--admin-token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.internal_secret = os.environ.get("INTERNAL_AUTH_SECRET") or _file(args.internal_secret_file)
    if not args.internal_secret:
        parser.error(f"no internal secret: set INTERNAL_AUTH_SECRET or keep it in {args.internal_secret_file}")
    return Cutover(args).run()


def _file(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
