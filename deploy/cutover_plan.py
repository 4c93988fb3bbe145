"""The cutover's plan: its steps as `--plan` gives them, and how the context's before_service hooks
split it into rollouts (deploy/cutover.py, deploy/cutover_contexts.py)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from deploy.cutover_contexts import CutoverContext


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


def phases(plan: list[Step], context: CutoverContext) -> list[tuple[list[Step], bool]]:
    """The rollouts to run, each with whether the context's before_service hooks run before it: one
    rollout of the whole plan, or, when there are hooks and the plan reaches the service, the steps
    before the service, then (after the hooks) the rest."""
    at = next((i for i, step in enumerate(plan) if step.mode == "service"), None)
    if at is None or not context.before_service:
        return [(plan, False)]
    return [(steps, hooked) for steps, hooked in ((plan[:at], False), (plan[at:], True)) if steps]
