"""A rollout's plan: its steps and the analysis that judges them, parsed from operator input.

``shadow:10m,canary:1:10m,canary:10:10m,canary:50:10m,service``: each step is a mode, a weight for a
canary, and how long it is watched before it may advance (a step without a duration is the end
state: reaching it ends the rollout).
"""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field
from typing import Any

from strangler.proxy.types import Mode, RouteState

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|h)?$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
MAX_STEPS = 20
MAX_STEP_SECONDS = 7 * 24 * 3600.0
MAX_FORCE_REASON = 500


class PlanError(ValueError):
    """Operator input the plan refuses; the message is meant for a 400 or the CLI."""


class Status(enum.StrEnum):
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    ROLLED_BACK = "rolled_back"  # a check failed: the controller sent the route back to the monolith
    ABORTED = "aborted"  # an operator stopped it: the route went back to the monolith

    @property
    def active(self) -> bool:
        return self in (Status.RUNNING, Status.PAUSED)


@dataclass(frozen=True, slots=True)
class Step:
    mode: Mode
    weight: int = 0
    seconds: float = 0.0  # watched this long before it may advance; 0 on the last step: done on arrival

    @property
    def state(self) -> RouteState:
        weight = self.weight if self.mode is Mode.CANARY else (100 if self.mode is Mode.SERVICE else 0)
        return RouteState(self.mode, weight)

    @property
    def label(self) -> str:
        return f"canary {self.weight}%" if self.mode is Mode.CANARY else self.mode.value

    def as_text(self) -> str:
        parts = [self.mode.value] + ([str(self.weight)] if self.mode is Mode.CANARY else [])
        return ":".join(parts + ([f"{self.seconds:g}s"] if self.seconds else []))


@dataclass(frozen=True, slots=True)
class Analysis:
    """What a step must show before it advances, and what rolls it back at once."""

    interval: float = 30.0  # seconds between judgements; a failed check rolls back within one
    min_requests: int = 50  # judged requests (service answers; compared mirrors in shadow) a step needs
    max_error_share: float = 0.01  # of the service's answers that are 5xx
    max_p95_ratio: float = 1.5  # the service's p95 against the monolith's on the same route
    p95_slack: float = 0.05  # seconds: a p95 within the monolith's plus this passes whatever the ratio
    max_diff_share: float = 0.01  # of compared mirrors that differ beyond the measured noise
    # Run the route's reconcile command (the route table's [rollouts.reconcile], never a command sent
    # with the plan) before each step advances; it must exit 0.
    reconcile: bool = False
    reconcile_timeout: float = 600.0


@dataclass(frozen=True, slots=True)
class Plan:
    steps: tuple[Step, ...]
    analysis: Analysis = field(default_factory=Analysis)
    # Why this rollout's flips go past a refusing flip gate (contracts), if they do: each such flip is
    # then audited as forced, with this reason and the gate's refusal.
    force: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"steps": [s.as_text() for s in self.steps], "analysis": asdict(self.analysis), "force": self.force}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        return plan_from(steps=data.get("steps"), force=data.get("force") or "", **dict(data.get("analysis") or {}))


def parse_duration(text: str) -> float:
    """``90``, ``90s``, ``10m``, ``1.5h``, ``500ms`` -> seconds."""
    match = _DURATION.match(text.strip())
    if match is None:
        raise PlanError(f"a duration is a number with ms, s, m or h: got {text!r}")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def parse_step(text: str) -> Step:
    parts = [p.strip() for p in text.strip().split(":")]
    try:
        mode = Mode(parts[0])
    except ValueError:
        raise PlanError(f"step {text!r}: the mode is one of shadow, canary, service") from None
    if mode is Mode.MONOLITH:
        raise PlanError(f"step {text!r}: a rollout moves traffic off the monolith; abort it to go back")
    weight = 0
    if mode is Mode.CANARY:
        if len(parts) < 2 or not parts[1].isdigit() or not 1 <= int(parts[1]) <= 100:
            raise PlanError(f"step {text!r}: a canary needs a weight from 1 to 100 (canary:10:5m)")
        weight, parts = int(parts[1]), parts[1:]
    if len(parts) > 2:
        raise PlanError(f"step {text!r}: expected mode[:weight][:duration]")
    seconds = parse_duration(parts[1]) if len(parts) == 2 else 0.0
    if not 0 <= seconds <= MAX_STEP_SECONDS:
        raise PlanError(f"step {text!r}: a step lasts at most {MAX_STEP_SECONDS:g} s")
    return Step(mode, weight, seconds)


def parse_steps(text: str | list[str]) -> tuple[Step, ...]:
    items = text.split(",") if isinstance(text, str) else list(text)
    steps = tuple(parse_step(item) for item in items if str(item).strip())
    if not steps:
        raise PlanError("a rollout needs at least one step")
    if len(steps) > MAX_STEPS:
        raise PlanError(f"a rollout has at most {MAX_STEPS} steps")
    for step in steps[:-1]:
        if not step.seconds:
            raise PlanError(f"step {step.as_text()!r}: every step but the last needs a duration to be watched")
    return steps


def plan_from(*, steps: Any, force: Any = "", **analysis: Any) -> Plan:
    """A plan from operator input (CLI flags, admin JSON), every value checked."""
    if not isinstance(force, str) or len(force) > MAX_FORCE_REASON:
        raise PlanError(f"force is the reason to go past the flip gate: text of at most {MAX_FORCE_REASON} characters")
    if not isinstance(steps, str | list) or isinstance(steps, list) and not all(isinstance(s, str) for s in steps):
        raise PlanError("steps must be a string like 'shadow:10m,canary:10:10m,service' or a list of such steps")
    unknown = set(analysis) - set(Analysis.__dataclass_fields__)
    if unknown:
        raise PlanError(f"unknown analysis settings: {', '.join(sorted(unknown))}")
    defaults = Analysis()
    values: dict[str, Any] = {}
    for name, value in analysis.items():
        if value is None:
            continue
        if name == "reconcile":
            if not isinstance(value, bool):
                raise PlanError("reconcile must be true or false (the command is the route table's "
                                "[rollouts.reconcile])")
            values[name] = value
            continue
        if name in ("interval", "reconcile_timeout") and isinstance(value, str):
            value = parse_duration(value)
        expected = type(getattr(defaults, name))
        if isinstance(value, bool) or not isinstance(value, int | float) or (expected is int and not isinstance(value, int)):
            raise PlanError(f"{name} must be a number")
        if value < 0 or (name.startswith("max_") and name.endswith("_share") and value > 1):
            raise PlanError(f"{name} is out of range: {value!r}")
        values[name] = expected(value)
    if values.get("interval", defaults.interval) <= 0:
        raise PlanError("interval must be more than 0 seconds")
    return Plan(parse_steps(steps), Analysis(**values), force.strip())
