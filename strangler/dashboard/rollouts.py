"""The dashboard's rollouts: for each route, its active (else latest) rollout as the controller
keeps it (strangler.control.rollout): the plan with the current step marked, the status, the last
decision and the figures it was made on, the decisions so far; and the forms that start, pause,
resume and abort one through the admin API's /rollouts (the page's script sends them).

Reasons and figures come from operators and the controller: every value goes through esc().
"""

from __future__ import annotations

import time
from typing import Any

from strangler.dashboard.table import esc

EVENTS_SHOWN = 6
DEFAULT_STEPS = "shadow:10m,canary:1:10m,canary:10:10m,canary:50:10m,service"
_FIGURES = (  # (key, label, format) of a step's evidence, in the order shown
    ("service_requests", "service requests", "{}"),
    ("service_5xx_share", "service 5xx", "pct"),
    ("service_p95_ms", "service p95", "ms"),
    ("monolith_p95_ms", "monolith p95", "ms"),
    ("shadow_compared", "mirrors compared", "{}"),
    ("shadow_diff_share", "real differences", "pct"),
)


def rollouts_view(data: dict[str, Any]) -> str:
    """The refreshable part: one card per route that has had a rollout."""
    cards = [_card(route["name"], route["rollout"]) for route in data["routes"] if route.get("rollout")]
    if not cards:
        return ('<p class=muted id=rollouts-none>No rollout yet. Start one below, or with '
                '<code>strangler rollout start ROUTE --steps …</code>.</p>')
    return "".join(cards)


def _card(route: str, rollout: dict[str, Any]) -> str:
    status = rollout["status"]
    steps = "".join(_chip(i, text, rollout["step"], status) for i, text in enumerate(rollout["steps"]))
    last = rollout.get("last") or {}
    figures = last.get("figures") or {}
    elapsed = time.time() - rollout["step_started_at"]
    head = (f'<div class=rollout-head><strong>{esc(route)}</strong> rollout #{esc(rollout["id"])} '
            f'<span class="badge rollout-{esc(status)}">{esc(status.replace("_", " "))}</span> '
            f'<small>step {rollout["step"] + 1} of {len(rollout["steps"])}'
            + (f", {elapsed:.0f} s into it" if status in ("running", "paused") else "")
            + f' · started by {esc(rollout["actor"])}: {esc(rollout["reason"])}</small></div>')
    decision = (f'<p class=decision><b>{esc(last.get("verdict", "–"))}</b>: {esc(last.get("reason", "no decision yet"))}'
                "</p>")
    evidence = _evidence(figures)
    events = "".join(
        f'<li><span class=muted>{time.strftime("%H:%M:%S", time.gmtime(e["at"]))}</span> step {e["step"] + 1} '
        f'<b>{esc(e["verdict"])}</b> {esc(e["reason"])} <small class=muted>{esc(e["actor"])}</small></li>'
        for e in rollout.get("events", [])[:EVENTS_SHOWN])
    return (f'<div class=rollout data-route="{esc(route)}" data-status="{esc(status)}">{head}'
            f'<ol class=steps>{steps}</ol>{decision}{evidence}<ul class=decisions>{events}</ul></div>')


def _chip(index: int, text: str, current: int, status: str) -> str:
    if index < current or (index == current and status == "succeeded"):
        state = "done"
    elif index == current:
        state = "failed" if status in ("rolled_back", "aborted") else "current"
    else:
        state = "todo"
    return f'<li class="step {state}">{esc(text)}</li>'


def _evidence(figures: dict[str, Any]) -> str:
    if not figures.get("step"):
        return ""
    rows = []
    for key, label, fmt in _FIGURES:
        window, step = (figures.get("window") or {}).get(key), figures["step"].get(key)
        rows.append(f"<tr><td>{label}</td><td class=num>{_fmt(window, fmt)}</td><td class=num>{_fmt(step, fmt)}</td></tr>")
    return ('<table class="mini evidence"><thead><tr><th>Evidence</th><th class=num>last window</th>'
            f'<th class=num>whole step</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _fmt(value: Any, fmt: str) -> str:
    if value is None:
        return "–"
    if fmt == "pct":
        return f"{float(value) * 100:.2f}%"
    if fmt == "ms":
        return f"{float(value):.1f} ms"
    return esc(value)


def rollout_forms(data: dict[str, Any]) -> str:
    """Not refreshed (nothing typed is lost): per route with a service, start, pause, resume, abort."""
    forms = []
    for route in data["routes"]:
        if not route["service"]:
            continue
        name = esc(route["name"])
        forms.append(f"""
<form class=rollout-form data-route="{name}" autocomplete=off>
  <span class=name>{name}</span>
  <label class=steps>Steps <input name=steps maxlength=300 value="{DEFAULT_STEPS}"></label>
  <label>Min requests <input name=min_requests type=number min=1 step=1 value=50></label>
  <label>Interval (s) <input name=interval type=number min=1 step=1 value=30></label>
  <label class=reason>Reason <input name=reason required maxlength=500 placeholder="why"></label>
  <button type=submit data-verb=start>Start</button>
  <button type=submit data-verb=pause>Pause</button>
  <button type=submit data-verb=resume>Resume</button>
  <button type=submit data-verb=abort class=danger>Abort</button>
  <output class=result aria-live=polite></output>
</form>""")
    return "".join(forms)
