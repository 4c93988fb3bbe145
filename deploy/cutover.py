"""Cut a context over with a rollout the proxies drive: contracts -> backfill -> reconcile, then
`strangler rollout start <route>` (shadow -> canary 10% -> canary 50% -> service by default), and
follow it, printing every decision the controller makes with its figures, until it succeeds or
rolls back. `--context` names the context (payments by default, or catalog); what differs per
context (route, service, extraction context, the context's own hooks around the service step and
the rollback) is its description in deploy/cutover_contexts.py, not code here. The rest of this
text says payments; it reads the same for catalog.

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

    python deploy/cutover.py [--context payments|catalog] [--plan shadow,canary:10,canary:50,service]
                             [--window 30] [--rollback]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script (and loaded by path in tests): its sibling modules live under ROOT
    sys.path.insert(0, str(ROOT))
from deploy.cutover_contexts import CONTEXTS, CutoverContext  # noqa: E402
from deploy.cutover_plan import Step, parse_plan, phases  # noqa: E402
from strangler.control.rollout.records import RolloutRecords  # noqa: E402
from strangler.proxy.config import load_config  # noqa: E402

BIN = Path(sys.executable).parent
FOLLOW_POLL = 1.0  # seconds between looks at the rollout
DONE = {"succeeded": 0, "rolled_back": 1, "aborted": 1}  # final status -> exit code


class CheckFailed(Exception):
    pass


class Cutover:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.context: CutoverContext = CONTEXTS[getattr(args, "context", "payments")]
        if getattr(args, "service", None) is None:
            args.service = self.context.service_url
        self.route = self.context.route
        self.config = str(args.config)
        loaded = load_config(args.config, env={})
        if not any(r.name == self.route and r.service == self.context.service for r in loaded.table.routes):
            raise CheckFailed(f"{args.config} has no route {self.route!r} to the service {self.context.service!r}")
        self.providers = loaded.contracts.providers.get(self.context.service, ()) if loaded.contracts else ()
        record = loaded.contracts_record or "contracts/verifications.jsonl"
        self.record = Path(record) if Path(record).is_absolute() else ROOT / record
        store = loaded.store_url
        if store.startswith("sqlite:///") and not store.startswith("sqlite:////"):  # relative to the repository
            store = f"sqlite:///{ROOT / store.removeprefix('sqlite:///')}"
        self.store_url = store
        self.forced = ""  # why the rollout's flips go past the strangler's contract gate, if they do
        self.hooked = False  # before_service started: after_monolith must undo it once the route is back

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
        """The rollout's canary/service flips are refused by the strangler unless the service's contracts
        (the route table's providers for it) pass for the code as it is now; `contracts.current`
        verifies them first when the record does not say so."""
        service = self.context.service
        module = "contracts.can_i_deploy" if self.args.skip_contracts else "contracts.current"
        result = subprocess.run([str(BIN / "python"), "-m", module, "--service", service, "--record", str(self.record)],
                                cwd=ROOT, text=True, timeout=1300)
        if result.returncode == 0:
            self.say(f"contracts: can-i-deploy says yes for {service} ({', '.join(self.providers)})")
        elif self.args.skip_contracts:
            self.forced = "--skip-contracts: can-i-deploy said no"
            self.say("contracts not verified for this code; --skip-contracts: the rollout's canary/service flips go "
                     "past the strangler's gate, audited as forced")
        else:
            raise CheckFailed(f"the contracts of {service} ({', '.join(self.providers)}) do not pass for this code")

    def backfill(self) -> None:
        self.say(f"backfill into {self.args.service}")
        restart = ["--restart"] if self.args.restart else []
        result = self.manage("strangler_backfill", self.context.name, "--target", self.args.service, *restart)
        print(result.stdout, end="", flush=True)
        if result.returncode != 0:
            raise CheckFailed("backfill failed")

    def reconcile(self) -> None:
        """Clean within `settle` seconds: differences that outlast the sync lag are real."""
        deadline = time.monotonic() + self.args.settle
        while True:
            result = self.manage("strangler_reconcile", self.context.name, "--target", self.args.service)
            if result.returncode == 0:
                self.say("reconcile: both stores agree")
                return
            if time.monotonic() >= deadline:
                print(result.stdout, end="", flush=True)
                raise CheckFailed("reconcile: the stores still disagree")
            time.sleep(2)

    # -- the context's hooks (deploy/cutover_contexts.py) ----------------------------------
    def hooks(self, which: str) -> None:
        for hook in getattr(self.context, which):
            argv = self.context.hook_argv(hook, service_url=self.args.service)
            self.say(f"{which}: manage.py {' '.join(argv)}")
            result = self.manage(*argv)
            print(result.stdout, end="", flush=True)
            if result.returncode != 0:
                raise CheckFailed(f"{which}: manage.py {' '.join(argv)} exited {result.returncode}")

    def before_service(self) -> None:
        """The hooks before the route goes to the service; when one fails, the route goes back to
        the monolith and after_monolith undoes what ran."""
        self.hooked = True
        try:
            self.hooks("before_service")
        except CheckFailed as exc:
            self.back_to_monolith(f"cutover: {exc}")
            raise

    def back_to_monolith(self, reason: str) -> None:
        """Once before_service ran, any check that stops the cutover puts the route back on the
        monolith (a route left on a canary would send traffic to a side the hooks moved) and undoes them."""
        if self.hooked:
            self.strangler("set", self.route, "--mode", "monolith", "--actor", "cutover", "--reason", reason)
            self.after_monolith()

    def after_monolith(self) -> None:
        if self.hooked:
            self.hooks("after_monolith")
            self.hooked = False

    # -- the rollout ---------------------------------------------------------------------
    def start(self, plan: list[Step] | None = None) -> None:
        steps = ",".join(step.with_window(self.args.window) for step in (plan or self.args.plan))
        interval = max(1.0, self.args.window / 3)
        argv = ["rollout", "start", self.route, "--steps", steps, "--interval", f"{interval:g}s",
                "--min-requests", str(self.args.min_requests), "--max-error-share", str(self.args.max_error_share),
                "--max-diff-share", str(self.args.max_diff_share), "--max-p95-ratio", str(self.args.max_p95_ratio),
                "--actor", "cutover",
                "--reason", f"cutover of {self.route}"]
        if self.args.reconcile_in_proxy:
            argv.append("--reconcile")
        if self.forced:
            argv += ["--force", self.forced]
        self.say(self.strangler(*argv).strip())

    def follow(self, plan: list[Step] | None = None, *, continued: bool = False) -> tuple[str, list[str]]:
        """Print the controller's decisions as they come; reconcile at each new step (and at its first,
        when the rollout `continued` another: its first step is a new one for the route). Returns the
        final status and the labels of the steps of `plan` (the rollout's) passed."""
        plan = plan or self.args.plan
        seen: set[int] = set()
        step = -2 if continued else -1
        passed: list[str] = []
        deadline = time.monotonic() + self.args.timeout
        with RolloutRecords(self.store_url) as records:
            while True:
                rollout = records.for_route(self.route)
                if rollout is None:
                    raise CheckFailed("the rollout is not in the store")
                for event in reversed(records.events(rollout.id, 50)):
                    if event.id not in seen:
                        seen.add(event.id)
                        self.say(f"rollout #{rollout.id} step {event.step + 1} {event.verdict}: {event.reason}")
                if rollout.step != step and rollout.status.value == "running":
                    if step != -1:
                        passed = [s.label for s in plan[:rollout.step]]
                        if not self.args.reconcile_in_proxy:
                            self._reconcile_or_abort()
                    step = rollout.step
                if rollout.status.value in DONE:
                    if rollout.status.value == "succeeded":
                        passed = [s.label for s in plan]
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
            self.strangler("rollout", "abort", self.route, "--actor", "cutover", "--reason", f"cutover: {exc}")
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
            for n, (plan, hooked) in enumerate(phases(self.args.plan, self.context)):
                if hooked:
                    self.before_service()
                    done.append("before_service")
                self.start(plan)
                status, passed = self.follow(plan, continued=n > 0)
                done += passed
                if status != "succeeded":
                    self.after_monolith()
                    self.say(f"summary: completed {', '.join(done)}; the rollout {status.replace('_', ' ')}, the route "
                             f"is back on the monolith after {time.monotonic() - started:.0f} s")
                    return DONE[status]
            if self.args.rollback:
                self.strangler("set", self.route, "--mode", "monolith", "--actor", "cutover",
                               "--reason", "cutover: planned rollback")
                self.after_monolith()
                time.sleep(min(self.args.window, 5))
                self.reconcile()
                done.append("rollback")
        except CheckFailed as exc:
            self.say(f"CHECK FAILED: {exc}")
            try:
                self.back_to_monolith(f"cutover: {exc}")
            except CheckFailed as again:
                self.say(f"CHECK FAILED going back to the monolith: {again}")
            self.say(f"summary: completed {', '.join(done) or 'nothing'}; stopped after {time.monotonic() - started:.0f} s")
            return 1
        except (KeyboardInterrupt, TimeoutError):
            self.say(f"stopped following; the rollout goes on in the proxies: strangler rollout status {self.route} "
                     f"(or abort {self.route} --reason ...)")
            if self.hooked and self.context.after_monolith:
                self.say("before_service ran: once the route is back on the monolith, run the after_monolith hooks "
                         f"of {self.context.name} in deploy/cutover_contexts.py by hand")
            return 130
        self.say(f"summary: completed {', '.join(done)} in {time.monotonic() - started:.0f} s")
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", default="payments", choices=sorted(CONTEXTS),
                        help="the context to cut over (deploy/cutover_contexts.py describes each)")
    parser.add_argument("--config", type=Path, default=ROOT / "deploy" / "local" / "routes.toml")
    parser.add_argument("--service", help="the service's URL, for backfill/reconcile (default: where make run serves it)")
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
                        help="the proxies run the route table's [rollouts.reconcile] <route> command instead")
    parser.add_argument("--restart", action="store_true", help="backfill from scratch, ignoring its checkpoint")
    parser.add_argument("--rollback", action="store_true", help="end by flipping back to the monolith")
    # Kept for the command lines of earlier versions; the rollout goes through the store, not the admin API.
    parser.add_argument("--admin", help=argparse.SUPPRESS)
    parser.add_argument("--admin-token", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.internal_secret = os.environ.get("INTERNAL_AUTH_SECRET") or _file(args.internal_secret_file)
    if not args.internal_secret:
        parser.error(f"no internal secret: set INTERNAL_AUTH_SECRET or keep it in {args.internal_secret_file}")
    try:
        cutover = Cutover(args)
    except CheckFailed as exc:
        parser.error(str(exc))
    return cutover.run()


def _file(path: Path) -> str:
    return path.read_text().strip() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
