"""Drive the payments cutover: contracts -> backfill -> shadow -> canary 10% -> canary 50% -> service
(-> optional rollback), every flip through the strangler CLI and every step checked before the next.

Checks: `strangler_reconcile payments` clean after the backfill and after every step (retried for a few
seconds, since continuous sync lags by a moment under load); in shadow, the share of mirrored
GETs whose answers differ beyond the measured noise; in canary and service, the service's share of
5xx answers and the number of fallbacks to the monolith. A failed check flips the route back to
the monolith and exits 1; the audit trail records each step with its reason.

Before the first flip, `contracts.can_i_deploy` must say yes for payments: the strangler refuses
canary/service while the contract record is failing or not current. When it says no, the Pact
verification runs against the monolith and the service (as `make contracts` does) and is recorded.
With --skip-contracts it does not: the canary/service flips are then forced past the gate, and the
audit trail records each as forced (the gate's refusal and "--skip-contracts" in its reason).

    python deploy/cutover.py [--plan shadow,canary:10,canary:50,service] [--window 30] [--rollback]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from strangler.proxy.config import load_config

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ROUTE = "payments"
GATED = frozenset({"canary", "service"})  # the steps the strangler's contract gate refuses while contracts fail
_SAMPLE = re.compile(r'^strangler_requests_total\{route="([^"]+)",target="([^"]+)",status="([^"]+)"\} (\d+)$')
_FALLBACK = re.compile(r'^strangler_fallbacks_total\{route="([^"]+)"\} (\d+)$')


class CheckFailed(Exception):
    pass


@dataclass(frozen=True)
class Step:
    mode: str
    weight: int = 0

    @property
    def label(self) -> str:
        return f"canary {self.weight}%" if self.mode == "canary" else self.mode


def parse_plan(text: str) -> list[Step]:
    steps = []
    for item in filter(None, (p.strip() for p in text.split(","))):
        mode, _, weight = item.partition(":")
        if mode not in ("shadow", "canary", "service", "monolith"):
            raise argparse.ArgumentTypeError(f"unknown step {item!r}")
        if mode == "canary" and not (weight.isdigit() and 1 <= int(weight) <= 100):
            raise argparse.ArgumentTypeError(f"canary needs a weight 1-100: {item!r}")
        steps.append(Step(mode, int(weight or 0)))
    return steps


class Cutover:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.config = str(args.config)
        host, port = args.admin.rsplit(":", 1)
        self.admin = (host, int(port))
        self.token = args.admin_token
        record = load_config(args.config, env={}).contracts_record or "contracts/verifications.jsonl"
        self.record = Path(record) if Path(record).is_absolute() else ROOT / record
        self.forced = ""  # why flips to canary/service go past the strangler's contract gate, if they do

    # -- actions -----------------------------------------------------------------------
    def say(self, message: str) -> None:
        print(f"[cutover {time.strftime('%H:%M:%S')}] {message}", flush=True)

    def strangler(self, *argv: str) -> None:
        cmd = [str(BIN / "strangler"), "--config", self.config, *argv]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise CheckFailed(f"strangler {' '.join(argv)} failed: {result.stderr.strip() or result.stdout.strip()}")

    def flip(self, step: Step, reason: str) -> None:
        if self.forced and step.mode in GATED:
            reason = f"{reason} ({self.forced})"
        argv = ["set", ROUTE, "--mode", step.mode, "--reason", reason, "--actor", "cutover"]
        if step.mode == "canary":
            argv += ["--weight", str(step.weight)]
        if self.forced and step.mode in GATED:
            argv.append("--force")  # the store writes the gate's refusal into the audit reason
        self.strangler(*argv)
        self.say(f"route {ROUTE} -> {step.label}")

    def manage(self, *argv: str) -> subprocess.CompletedProcess[str]:
        # The monolith's commands sign their calls to the service with the stack's shared secret.
        env = {**os.environ, "INTERNAL_AUTH_SECRET": self.args.internal_secret}
        return subprocess.run([str(BIN / "python"), "manage.py", *argv], cwd=ROOT, text=True, timeout=3600,
                              stdout=subprocess.PIPE, stderr=None, env=env)

    # -- checks ------------------------------------------------------------------------
    def backfill(self) -> None:
        self.say(f"backfill into {self.args.service}")
        result = self.manage("strangler_backfill", "payments", "--target", self.args.service, *(["--restart"] if self.args.restart else []))
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            raise CheckFailed("backfill failed")

    def contracts(self) -> None:
        """Flips to canary/service are refused by the strangler unless payments' contracts pass for
        the code as it is now; `contracts.current` verifies them first when the record does not say so."""
        module = "contracts.can_i_deploy" if self.args.skip_contracts else "contracts.current"
        result = subprocess.run([str(BIN / "python"), "-m", module, "--service", ROUTE, "--record", str(self.record)],
                                cwd=ROOT, text=True, timeout=1300)
        if result.returncode == 0:
            self.say(f"contracts: can-i-deploy says yes for {ROUTE}")
        elif self.args.skip_contracts:
            self.forced = "--skip-contracts: can-i-deploy said no"
            self.say("contracts not verified for this code; --skip-contracts: canary/service flips go past the "
                     "strangler's gate, audited as forced")
        else:
            raise CheckFailed(f"the contracts of {ROUTE} do not pass for this code")

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

    def admin_get(self, path: str) -> str:
        conn = http.client.HTTPConnection(*self.admin, timeout=5)
        try:
            conn.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
            response = conn.getresponse()
            body = response.read().decode()
            if response.status != 200:
                raise CheckFailed(f"admin API {path}: {response.status} {body[:200]}")
            return body
        except OSError as exc:
            raise CheckFailed(f"admin API unreachable at {self.admin[0]}:{self.admin[1]}: {exc}") from exc
        finally:
            conn.close()

    def counters(self) -> dict[str, float]:
        """Requests on the payments route by target and status class, fallbacks, shadow counts."""
        out: dict[str, float] = {}
        for line in self.admin_get("/metrics").splitlines():
            if m := _SAMPLE.match(line):
                if m[1] == ROUTE:
                    out[f"{m[2]}:{m[3]}"] = out.get(f"{m[2]}:{m[3]}", 0) + int(m[4])
            elif (m := _FALLBACK.match(line)) and m[1] == ROUTE:
                out["fallbacks"] = int(m[2])
        routes = json.loads(self.admin_get("/routes"))["routes"]
        shadow = next((r["shadow"] for r in routes if r["name"] == ROUTE), {})
        for key in ("compared", "diffs", "noise"):
            out[f"shadow:{key}"] = float(shadow.get(key, 0))
        return out

    def watch(self, step: Step) -> None:
        """Observe one window of live traffic on this step, with a progress line, then judge it."""
        before = self.counters()
        start = time.monotonic()
        while (elapsed := time.monotonic() - start) < self.args.window:
            print(f"\r  watching {step.label}: {elapsed:4.0f}/{self.args.window:.0f} s", end="", file=sys.stderr, flush=True)
            time.sleep(min(1.0, self.args.window - elapsed))
        print(file=sys.stderr)
        after = self.counters()
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in after}
        if step.mode == "shadow":
            # The proxy counts a difference on a field that also differs monolith-vs-monolith as noise.
            compared, real = delta["shadow:compared"], delta["shadow:diffs"]
            share = real / compared if compared else 0.0
            if not compared:
                self.say("shadow: no mirrored request was compared in this window: nothing was judged")
            self.say(f"shadow: {compared:.0f} compared, {delta['shadow:diffs']:.0f} diffs, "
                     f"{delta['shadow:noise']:.0f} noise -> {share:.2%} real differences")
            if share > self.args.max_diff_share:
                raise CheckFailed(f"shadow differences {share:.2%} above {self.args.max_diff_share:.2%}")
            return
        service_total = sum(v for k, v in delta.items() if k.startswith("payments:"))
        service_5xx = delta.get("payments:5xx", 0)
        if not service_total:
            self.say(f"{step.label}: no traffic reached the service in this window: nothing was judged "
                     "(use --window to watch longer)")
        share = service_5xx / service_total if service_total else 0.0
        self.say(f"{step.label}: service answered {service_total:.0f} requests, {service_5xx:.0f} 5xx "
                 f"({share:.2%}), {delta.get('fallbacks', 0):.0f} fallbacks to the monolith")
        if share > self.args.max_error_share:
            raise CheckFailed(f"service 5xx share {share:.2%} above {self.args.max_error_share:.2%}")

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
            for step in self.args.plan:
                self.flip(step, f"cutover step: {step.label}")
                self.watch(step)
                self.reconcile()
                done.append(step.label)
            if self.args.rollback:
                self.flip(Step("monolith"), "cutover: planned rollback")
                time.sleep(min(self.args.window, 5))
                self.reconcile()
                done.append("rollback")
        except CheckFailed as exc:
            self.say(f"CHECK FAILED: {exc}")
            try:
                self.flip(Step("monolith"), f"cutover aborted: {exc}")
            except CheckFailed as flip_exc:
                self.say(f"could not roll back: {flip_exc}; run: strangler set {ROUTE} --mode monolith")
            self.say(f"summary: completed {done or ['nothing']}; rolled back to the monolith "
                     f"after {time.monotonic() - started:.0f} s")
            return 1
        self.say(f"summary: completed {', '.join(done)} in {time.monotonic() - started:.0f} s")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "local" / "routes.toml")
    parser.add_argument("--admin", default="127.0.0.1:8100", help="host:port of the strangler admin API")
    parser.add_argument("--admin-token", default=os.environ.get("STRANGLER_ADMIN_TOKEN") or _file(ROOT / "var" / "strangler-admin-token"))
    parser.add_argument("--service", default="http://127.0.0.1:8002", help="the payments service, for backfill/reconcile")
    parser.add_argument("--internal-secret-file", type=Path, default=ROOT / "var" / "internal-auth-secret",
                        help="where `make run` keeps INTERNAL_AUTH_SECRET (the environment variable wins)")
    parser.add_argument("--plan", type=parse_plan, default=parse_plan("shadow,canary:10,canary:50,service"))
    parser.add_argument("--window", type=float, default=30.0, help="seconds of traffic watched per step")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds reconcile may take to come clean")
    parser.add_argument("--max-error-share", type=float, default=0.01)
    parser.add_argument("--max-diff-share", type=float, default=0.01)
    parser.add_argument("--skip-backfill", action="store_true")
    parser.add_argument("--skip-contracts", action="store_true",
                        help="do not run the contract verification when the record is not current; canary/service "
                             "flips are then forced past the strangler's gate and audited as forced")
    parser.add_argument("--restart", action="store_true", help="backfill from scratch, ignoring its checkpoint")
    parser.add_argument("--rollback", action="store_true", help="end by flipping back to the monolith")
    args = parser.parse_args(argv)
    if not args.admin_token:
        parser.error("no admin token: set STRANGLER_ADMIN_TOKEN or pass --admin-token")
    args.internal_secret = os.environ.get("INTERNAL_AUTH_SECRET") or _file(args.internal_secret_file)
    if not args.internal_secret:
        parser.error(f"no internal secret: set INTERNAL_AUTH_SECRET or keep it in {args.internal_secret_file}")
    return Cutover(args).run()


def _file(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
