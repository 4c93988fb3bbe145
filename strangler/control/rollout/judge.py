"""The decision on one step, as a pure function of what it saw: no store, no clock, no sockets.

Checks that fail roll the route back at once: the service's 5xx share, its p95 against the
monolith's on the same route (in the same window when the monolith served enough of it, else the
monolith's p95 remembered from the earlier steps), and in shadow the share of mirrors that differ
beyond the measured noise. They are judged on the last analysis window, and on the whole step,
whichever has enough judged requests. A step that has run its time advances only with enough
judged requests; without them it holds, and says how many it has.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from strangler.control.rollout.evidence import Evidence
from strangler.control.rollout.plan import Analysis, Step
from strangler.proxy.types import Mode

# A p95 of fewer answers than this is one slow request, not a latency: the latency check waits for
# this many on the service's side and on the monolith's it compares against, whatever min_requests says.
LATENCY_MIN_SAMPLES = 20


class Verdict(enum.StrEnum):
    WATCH = "watch"  # within the step's time, nothing failed
    HOLD = "hold"  # the step's time is up but it has too few judged requests
    ADVANCE = "advance"
    ROLLBACK = "rollback"


@dataclass(frozen=True, slots=True)
class Decision:
    verdict: Verdict
    reason: str
    figures: dict[str, Any] = field(default_factory=dict)


def failures(step: Step, analysis: Analysis, seen: Evidence, monolith_p95: float | None) -> list[str]:
    """What in `seen` fails the analysis (empty: nothing does, or too little was seen to say)."""
    if seen.judged(step.mode) < max(1, analysis.min_requests):
        return []
    if step.mode is Mode.SHADOW:
        if seen.diff_share > analysis.max_diff_share:
            return [f"shadow: {seen.diffs} of {seen.compared} mirrors differ beyond noise "
                    f"({seen.diff_share:.2%} > {analysis.max_diff_share:.2%})"]
        return []
    out = []
    if seen.error_share > analysis.max_error_share:
        out.append(f"service 5xx: {seen.service_errors} of {seen.service_requests} "
                   f"({seen.error_share:.2%} > {analysis.max_error_share:.2%})")
    enough = max(analysis.min_requests, LATENCY_MIN_SAMPLES)
    reference = seen.monolith_p95 if seen.monolith_requests >= enough else monolith_p95
    p95 = seen.service_p95 if seen.service_requests >= LATENCY_MIN_SAMPLES else None
    if reference is not None and p95 is not None:
        limit = max(reference * analysis.max_p95_ratio, reference + analysis.p95_slack)
        if p95 > limit:
            out.append(f"service p95 {p95 * 1000:.0f} ms > {limit * 1000:.0f} ms "
                       f"(monolith p95 {reference * 1000:.0f} ms x {analysis.max_p95_ratio:g}, "
                       f"or + {analysis.p95_slack * 1000:.0f} ms)")
    return out


def judge(
    step: Step,
    analysis: Analysis,
    *,
    step_seen: Evidence,
    window_seen: Evidence,
    elapsed: float,
    monolith_p95: float | None = None,
) -> Decision:
    """`step_seen` since the step began, `window_seen` since the last judgement, `elapsed` seconds
    into the step; `monolith_p95` remembered from earlier steps (None: not measured yet)."""
    figures = {"window": window_seen.figures(), "step": step_seen.figures(), "elapsed_s": round(elapsed, 1)}
    failed = failures(step, analysis, window_seen, monolith_p95) or failures(step, analysis, step_seen, monolith_p95)
    if failed:
        return Decision(Verdict.ROLLBACK, "; ".join(failed), figures)
    judged = step_seen.judged(step.mode)
    what = "mirrors compared" if step.mode is Mode.SHADOW else "requests answered by the service"
    if elapsed < step.seconds:
        return Decision(Verdict.WATCH, f"{step.label}: {elapsed:.0f} of {step.seconds:.0f} s, {judged} {what}", figures)
    if judged < analysis.min_requests:
        return Decision(Verdict.HOLD, f"{step.label}: holding, only {judged} of {analysis.min_requests} {what} "
                        "needed to judge the step", figures)
    return Decision(Verdict.ADVANCE, f"{step.label}: passed on {judged} {what}", figures)
